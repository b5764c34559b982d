// What admission by a tenant's credentials costs, beside a platform token: `Authenticator.verify` on
// an API key (remembered: every request and upgrade after its first on a node; first: the scrypt
// hash), on a wrong secret, and on tokens signed by the platform's HS256 secret and by a tenant's
// own RS256 and ES256 keys (its JWKS), each with the tenant check, on an embedded database.
// Usage: node --import tsx bench/credential-admission.ts [rounds]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Authenticator } from '../src/server/auth.js';
import { Storage } from '../src/storage/database.js';
import { ApiKeyStore } from '../src/tenants/api-keys.js';
import { TenantRegistry } from '../src/tenants/registry.js';
import { TenantTokenKeyStore } from '../src/tenants/token-keys.js';

const rounds = Number(process.argv[2] ?? 5);
const KEYS = 500;
const dir = mkdtempSync(path.join(tmpdir(), 'veza-credential-admission-'));
const storage = await Storage.open({ dataDir: dir, thread: false });
await storage.migrate();
const registry = new TenantRegistry(storage);
await registry.create({ id: 'label-a', name: 'Label A' });
await registry.create({ id: 'label-b', name: 'Label B' });
const keys = new ApiKeyStore(storage);
const secrets: string[] = [];
for (let i = 0; i < KEYS; i++) secrets.push((await keys.create('label-a', { name: `server-${i}`, scopes: ['collab:write'] }, 'bench')).secret);
const wrong = secrets.map((s) => `${s.slice(0, -4)}AAAA`);
const rsa = await generateKeyPair('RS256', { extractable: true });
const ec = await generateKeyPair('ES256', { extractable: true });
const providers = new TenantTokenKeyStore(storage);
await providers.set('label-b', { jwks: { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec' }] } });

async function authenticator(store: ApiKeyStore): Promise<Authenticator> {
  const auth = await Authenticator.create({ settings: { jwtSecret: 'admission-bench-secret-admission-bench-secret' }, dataDir: dir });
  auth.admitTenantsWith((id) => registry.admit(id));
  auth.verifyApiKeysWith((credential) => store.verify(credential));
  auth.resolveTenantKeysWith((id) => providers.keysFor(id));
  return auth;
}

const signer = await authenticator(keys);
const platformTokens: string[] = [];
const rsaTokens: string[] = [];
const ecTokens: string[] = [];
for (let i = 0; i < KEYS; i++) {
  platformTokens.push(await signer.sign({ sub: `user-${i}`, tenant: 'label-a', docs: { '*': 'editor' } }));
  const own = (alg: string, kid: string) => new SignJWT({ tid: 'label-b', docs: { '*': 'editor' } }).setProtectedHeader({ alg, kid }).setSubject(`user-${i}`).setExpirationTime('1h');
  rsaTokens.push(await own('RS256', 'rsa').sign(rsa.privateKey));
  ecTokens.push(await own('ES256', 'ec').sign(ec.privateKey));
}

/** ns per call of `fn` over `n` calls. */
function time(n: number, fn: (i: number) => void): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - started) / n;
}
const refused = (fn: () => void) => () => {
  try {
    fn();
  } catch {
    return;
  }
  throw new Error('admitted a wrong secret');
};

const results: Record<string, number[]> = {};
const record = (label: string, ns: number) => (results[label] ??= []).push(ns);
for (let round = 0; round < rounds; round++) {
  // A fresh store per round, so that every key's first verification hashes.
  const fresh = new ApiKeyStore(storage);
  await fresh.load();
  const auth = await authenticator(fresh);
  record('API key, first on this node (scrypt)', time(KEYS, (i) => auth.verify(secrets[i]!)));
  record('API key, remembered', time(1_000_000, (i) => auth.verify(secrets[i % KEYS]!)));
  record('API key, wrong secret (scrypt)', time(KEYS, (i) => refused(() => auth.verify(wrong[i]!))()));
  for (const [label, tokens] of [
    ['platform HS256 token', platformTokens],
    ['tenant RS256 token (JWKS)', rsaTokens],
    ['tenant ES256 token (JWKS)', ecTokens],
  ] as const) {
    record(`${label}, first`, time(KEYS, (i) => auth.verify(tokens[i]!)));
    record(`${label}, remembered`, time(1_000_000, (i) => auth.verify(tokens[i % KEYS]!)));
  }
}
console.log(`admission by credential, ${KEYS} keys and tokens, ${rounds} rounds (median ns per verification, tenant check included):`);
for (const [label, values] of Object.entries(results)) {
  const sorted = values.toSorted((a, b) => a - b);
  console.log(`  ${label.padEnd(40)} ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0).padStart(9)} ns  (rounds: ${values.map((v) => v.toFixed(0)).join(', ')})`);
}
await storage.close();
rmSync(dir, { recursive: true, force: true });
