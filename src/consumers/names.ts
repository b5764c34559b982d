// The consumer modules by name, apart from the contract: the events settings name them, and the
// contract's types reach back to the configuration, which composes those settings.

/** The consumer modules, in start order. */
export const CONSUMER_NAMES = ['recommendations', 'insights', 'gamification', 'history', 'webhooks'] as const;
export type ConsumerName = (typeof CONSUMER_NAMES)[number];
