// Session history: how often an automatic version is taken while a session is being edited.
import { int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What the history module reads. */
export const historySettings = {
  autoVersionMinutes: {
    env: 'VEZA_AUTO_VERSION_MINUTES',
    flag: 'auto-version-minutes',
    schema: int(0, 1440).default(10),
    doc: 'Minutes of editing between two automatic versions of a session (0: none; versions are still taken when a session ends)',
  },
} as const satisfies SettingsGroup;

export type HistorySettings = SettingsOf<typeof historySettings>;
