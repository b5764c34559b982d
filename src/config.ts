import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { automergeSettings } from './automerge/settings.js';
import { collabSettings } from './collab/settings.js';
import { eventsSettings } from './events/settings.js';
import { graphqlSettings } from './graphql/settings.js';
import { historySettings } from './history/settings.js';
import { insightsSettings } from './insights/settings.js';
import { masteringSettings } from './mastering/settings.js';
import { mediaSettings } from './media/settings.js';
import { nftSettings } from './nft/settings.js';
import { recommendationsSettings } from './recommendations/settings.js';
import { authSettings, serverSettings } from './server/settings.js';
import { sessionsSettings } from './sessions/settings.js';
import type { Setting, SettingsOf } from './shared/settings.js';
import { storageSettings } from './storage/settings.js';
import { tenantsSettings } from './tenants/settings.js';
import { webhooksSettings } from './webhooks/settings.js';

/** The package's root directory (web/dist and other shipped files are found from here). */
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Every setting the server reads, by the module that owns it; each module declares its own in the
 * `settings.ts` of its folder (environment variable, CLI flag, schema with the default, doc line) and
 * is handed only its group's values. docs/configuration.md has one table per group, written from
 * these; keep them together.
 */
export const settings = {
  server: serverSettings,
  storage: storageSettings,
  auth: authSettings,
  events: eventsSettings,
  collab: collabSettings,
  automerge: automergeSettings,
  sessions: sessionsSettings,
  history: historySettings,
  media: mediaSettings,
  recommendations: recommendationsSettings,
  insights: insightsSettings,
  tenants: tenantsSettings,
  nft: nftSettings,
  mastering: masteringSettings,
  webhooks: webhooksSettings,
  graphql: graphqlSettings,
} as const;

/** The values of every group; each module is handed its own group (`Config['collab']`, …). */
export type Config = { [G in keyof typeof settings]: SettingsOf<(typeof settings)[G]> };

/** Every setting of every group, in the order of the groups (the CLI's usage lists them so). */
export const allSettings: readonly Setting[] = Object.values(settings).flatMap((group) => Object.values(group));

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Flags win over the environment; an empty environment variable counts as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: Record<string, string> = {}): Config {
  const known = new Set<string>(allSettings.map((s) => s.flag));
  const problems: string[] = [];
  for (const flag of Object.keys(flags)) {
    if (!known.has(flag)) problems.push(`--${flag}: unknown flag`);
  }
  const out: Record<string, Record<string, unknown>> = {};
  for (const [groupName, group] of Object.entries(settings)) {
    const values: Record<string, unknown> = (out[groupName] = {});
    for (const [key, setting] of Object.entries<Setting>(group)) {
      const fromFlag = flags[setting.flag];
      const fromEnv = env[setting.env];
      const raw = fromFlag ?? (fromEnv === '' ? undefined : fromEnv);
      const parsed = setting.schema.safeParse(raw);
      if (parsed.success) {
        values[key] = parsed.data;
      } else {
        const source = fromFlag !== undefined ? `--${setting.flag}` : setting.env;
        const why = parsed.error.issues.map((i) => i.message).join('; ');
        problems.push(`${source}=${setting.secret ? '(hidden)' : JSON.stringify(raw)}: ${why}`);
      }
    }
  }
  const { rtcMinPort, rtcMaxPort } = out.media!;
  if (typeof rtcMinPort === 'number' && typeof rtcMaxPort === 'number' && rtcMinPort > rtcMaxPort) {
    problems.push(`${settings.media.rtcMinPort.env} (${rtcMinPort}) is above ${settings.media.rtcMaxPort.env} (${rtcMaxPort})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  out.storage!.dataDir = path.resolve(out.storage!.dataDir as string);
  out.server!.webDir = path.resolve(PACKAGE_ROOT, out.server!.webDir as string);
  out.graphql!.manifest = path.resolve(PACKAGE_ROOT, out.graphql!.manifest as string);
  return out as Config;
}
