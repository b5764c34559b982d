import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allSettings, ConfigError, loadConfig, settings } from '../src/config.js';

describe('loadConfig', () => {
  it('gives the documented defaults on an empty environment', () => {
    const config = loadConfig({});
    expect(config.server.port).toBe(8080);
    expect(config.storage.databaseUrl).toBeUndefined();
    expect(config.events.redisUrl).toBeUndefined();
    expect(config.storage.dataDir).toMatch(/^\/.*\/data$/);
    expect(config.server.webDir).toMatch(/^\/.*\/web\/dist$/);
    expect(config.server.corsOrigins).toEqual([]);
    expect(config.collab.maxDocBytes).toBe(64 << 20);
    expect(config.sessions.examples).toBe('auto');
  });

  it('reads the environment and lets flags win', () => {
    const config = loadConfig(
      { VEZA_PORT: '9000', DATABASE_URL: 'postgres://u@h:5432/db', VEZA_CORS_ORIGINS: 'https://a.example, https://b.example', VEZA_TRUST_PROXY: 'true' },
      { port: '9100' },
    );
    expect(config.server.port).toBe(9100);
    expect(config.storage.databaseUrl).toBe('postgres://u@h:5432/db');
    expect(config.server.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.server.trustProxy).toBe(true);
  });

  it('refuses a media port range whose minimum is above its maximum', () => {
    expect(() => loadConfig({ VEZA_MEDIA_RTC_MIN_PORT: '45000', VEZA_MEDIA_RTC_MAX_PORT: '44000' })).toThrow(/VEZA_MEDIA_RTC_MIN_PORT \(45000\) is above VEZA_MEDIA_RTC_MAX_PORT \(44000\)/);
    expect(loadConfig({ VEZA_MEDIA_RTC_MIN_PORT: '44000', VEZA_MEDIA_RTC_MAX_PORT: '44000' }).media.rtcMaxPort).toBe(44000);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ REDIS_URL: '' }).events.redisUrl).toBeUndefined();
  });

  it.each([
    [{ VEZA_PORT: 'eighty' }, 'VEZA_PORT'],
    [{ VEZA_PORT: '70000' }, 'VEZA_PORT'],
    [{ DATABASE_URL: 'mysql://x@y/z' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL'],
    [{ VEZA_JWT_SECRET: 'short' }, 'VEZA_JWT_SECRET'],
    [{ VEZA_LOG_LEVEL: 'loud' }, 'VEZA_LOG_LEVEL'],
    [{ VEZA_TRUST_PROXY: 'maybe' }, 'VEZA_TRUST_PROXY'],
  ])('names the variable in the error for %j', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`${name}=`));
  });

  it('names the flag when the bad value came from a flag, and refuses unknown flags', () => {
    expect(() => loadConfig({}, { port: '-1' })).toThrow(/--port="-1"/);
    expect(() => loadConfig({}, { colour: 'red' })).toThrow(/--colour: unknown flag/);
  });

  it('reports every problem at once', () => {
    try {
      loadConfig({ VEZA_PORT: 'x', VEZA_LOG_LEVEL: 'y' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toHaveLength(2);
    }
  });

  it('reads each group from the variables of its own settings', () => {
    const config = loadConfig({ VEZA_COLLAB_FLUSH_MS: '250', VEZA_STORAGE_THREAD: 'false', VEZA_EVENTS_STREAM: 'x:events', VEZA_MEDIA_WORKERS: '2', VEZA_RECS_THREADS: '4', VEZA_INSIGHTS_ALERT_INTERVAL_S: '0', VEZA_EXAMPLE_SESSIONS: 'no', VEZA_JWT_ISSUER: 'https://id.example' });
    expect(config.collab.flushMs).toBe(250);
    expect(config.storage.thread).toBe(false);
    expect(config.events.stream).toBe('x:events');
    expect(config.media.workers).toBe(2);
    expect(config.recommendations.threads).toBe(4);
    expect(config.insights.alertIntervalS).toBe(0);
    expect(config.sessions.examples).toBe(false);
    expect(config.auth.jwtIssuer).toBe('https://id.example');
    for (const [group, entries] of Object.entries(settings)) expect(Object.keys(config[group as keyof typeof settings]).sort(), group).toEqual(Object.keys(entries).sort());
  });

  it('has a unique variable and flag for every setting', () => {
    const envs = allSettings.map((s) => s.env);
    const flags = allSettings.map((s) => s.flag);
    expect(new Set(envs).size).toBe(envs.length);
    expect(new Set(flags).size).toBe(flags.length);
  });

  it('is documented in docs/configuration.md, one table per group with one row per setting', () => {
    const page = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    const tables = settingsTables(page);
    expect([...tables.keys()], 'the groups under ## Settings').toEqual(Object.keys(settings));
    for (const [group, entries] of Object.entries(settings)) {
      const rows = tables.get(group) ?? [];
      const expected = Object.values(entries).map((s) => `${s.env} ${s.flag}`);
      for (const row of expected) expect(rows, `### ${group}: a row for ${row}`).toContain(row);
      for (const row of rows) expect(expected, `### ${group}: a row for ${row}, which is not a setting of ${group}`).toContain(row);
      expect(rows.length, `### ${group}: one row per setting`).toBe(expected.length);
    }
  });
});

/** The rows (`VARIABLE flag`) of each `### group` table of the page's `## Settings` section. */
function settingsTables(page: string): Map<string, string[]> {
  const section = page.split(/^## Settings$/m)[1]?.split(/^## /m)[0] ?? '';
  const tables = new Map<string, string[]>();
  let rows: string[] | null = null;
  for (const line of section.split('\n')) {
    const heading = /^### (\S+)\s*$/.exec(line);
    if (heading) tables.set(heading[1]!, (rows = []));
    const row = /^\| `([^`]+)` \| `--([^`]+)` \|/.exec(line);
    if (row) {
      expect(rows, `a row outside any group: ${line}`).not.toBeNull();
      rows?.push(`${row[1]} ${row[2]}`);
    }
  }
  return tables;
}
