import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, settings } from '../src/config.js';

describe('loadConfig', () => {
  it('gives the documented defaults on an empty environment', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
    expect(config.dataDir).toMatch(/\/data$/);
    expect(config.corsOrigins).toEqual([]);
  });

  it('reads the environment and lets flags win', () => {
    const config = loadConfig(
      { VEZA_PORT: '9000', DATABASE_URL: 'postgres://u@h:5432/db', VEZA_CORS_ORIGINS: 'https://a.example, https://b.example', VEZA_TRUST_PROXY: 'true' },
      { port: '9100' },
    );
    expect(config.port).toBe(9100);
    expect(config.databaseUrl).toBe('postgres://u@h:5432/db');
    expect(config.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.trustProxy).toBe(true);
  });

  it('refuses a media port range whose minimum is above its maximum', () => {
    expect(() => loadConfig({ VEZA_MEDIA_RTC_MIN_PORT: '45000', VEZA_MEDIA_RTC_MAX_PORT: '44000' })).toThrow(/VEZA_MEDIA_RTC_MIN_PORT \(45000\) is above VEZA_MEDIA_RTC_MAX_PORT \(44000\)/);
    expect(loadConfig({ VEZA_MEDIA_RTC_MIN_PORT: '44000', VEZA_MEDIA_RTC_MAX_PORT: '44000' }).mediaRtcMaxPort).toBe(44000);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ REDIS_URL: '' }).redisUrl).toBeUndefined();
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

  it('has a unique variable and flag for every setting', () => {
    const envs = Object.values(settings).map((s) => s.env);
    const flags = Object.values(settings).map((s) => s.flag);
    expect(new Set(envs).size).toBe(envs.length);
    expect(new Set(flags).size).toBe(flags.length);
  });

  it('is documented in docs/configuration.md, one row per setting', () => {
    const page = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    for (const s of Object.values(settings)) {
      expect(page, s.env).toMatch(new RegExp(`^\\| \`${s.env}\` \\| \`--${s.flag}\` \\|`, 'm'));
    }
  });
});
