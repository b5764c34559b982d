// Creator insights: how often the alerts are checked.
import { int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What the insights service reads. */
export const insightsSettings = {
  alertIntervalS: { env: 'VEZA_INSIGHTS_ALERT_INTERVAL_S', flag: 'insights-alert-interval-s', schema: int(0, 86_400).default(300), doc: 'How often creators with webhooks are checked for plays spikes and drops (and undelivered alerts retried); 0: off' },
} as const satisfies SettingsGroup;

export type InsightsSettings = SettingsOf<typeof insightsSettings>;
