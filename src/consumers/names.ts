// The consumer modules by name, apart from the contract: the configuration names them, and the
// contract's types reach back to the configuration and the logger, which read the configuration.

/** The consumer modules, in start order. */
export const CONSUMER_NAMES = ['recommendations', 'insights', 'gamification'] as const;
export type ConsumerName = (typeof CONSUMER_NAMES)[number];
