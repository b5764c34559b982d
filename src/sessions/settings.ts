// Session bundles: whether the example sessions are imported at start.
import { z } from 'zod';
import type { SettingsGroup, SettingsOf } from '../shared/settings.js';

/** What the sessions module reads. */
export const sessionsSettings = {
  examples: {
    env: 'VEZA_EXAMPLE_SESSIONS',
    flag: 'example-sessions',
    schema: z.enum(['auto', 'true', 'false', '1', '0', 'yes', 'no']).default('auto').transform((v) => (v === 'auto' ? 'auto' : v === 'true' || v === '1' || v === 'yes')),
    doc: 'Import the example sessions of sessions/ into the default tenant at start (those it does not hold yet); auto: in development mode on the embedded database',
  },
} as const satisfies SettingsGroup;

export type SessionsSettings = SettingsOf<typeof sessionsSettings>;
