import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * Real services for tests. When one is missing, the test skips with a printed reason; with
 * REQUIRE_SERVICES=1 (CI) a missing service is a failure instead.
 */
export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const required = process.env.REQUIRE_SERVICES === '1';

async function reachable(name: string, probe: () => Promise<unknown>): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    const reason = `${name} is not reachable: ${(error as Error).message}`;
    if (required) throw new Error(`${reason} (REQUIRE_SERVICES=1)`);
    console.warn(`SKIP: ${reason}`);
    return false;
  }
}

export function postgresAvailable(): Promise<boolean> {
  return reachable(`PostgreSQL at ${POSTGRES_URL}`, async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
    await client.connect();
    await client.end();
  });
}

export function redisAvailable(): Promise<boolean> {
  return reachable(`Redis at ${REDIS_URL}`, async () => {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await redis.connect();
      await redis.ping();
    } finally {
      redis.disconnect();
    }
  });
}

/**
 * A fresh database on the real PostgreSQL, dropped by `drop()`: tests never share state. With
 * `restrictedOwner`, it belongs to a login role of its own that is neither superuser nor exempt from
 * row-level security (as production runs), granted the application role, and the URL logs in as it.
 */
export async function createTestDatabase(options: { restrictedOwner?: boolean } = {}): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `veza_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    if (options.restrictedOwner) {
      await admin.query(`DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'veza_app') THEN CREATE ROLE veza_app NOLOGIN NOSUPERUSER NOBYPASSRLS; END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
      await admin.query(`CREATE ROLE ${name} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`);
      // What a DBA grants: the owner switches to the application role per transaction (it cannot grant itself a role another created).
      await admin.query(`GRANT veza_app TO ${name}`);
      await admin.query(`CREATE DATABASE ${name} OWNER ${name}`);
    } else {
      await admin.query(`CREATE DATABASE ${name}`);
    }
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  if (options.restrictedOwner) {
    url.username = name;
    url.password = '';
  }
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      if (options.restrictedOwner) await client.query(`DROP ROLE IF EXISTS ${name}`);
      await client.end();
    },
  };
}

/** A unique key prefix so tests sharing one Redis never see each other's streams. */
export function redisPrefix(label: string): string {
  return `veza-test:${label}:${randomBytes(4).toString('hex')}`;
}

export function tempDir(label: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `veza-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
