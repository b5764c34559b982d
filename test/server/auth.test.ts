import { statSync } from 'node:fs';
import path from 'node:path';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { Authenticator, canWrite, roleFor } from '../../src/server/auth.js';
import { tempDir } from '../helpers/services.js';

const data = tempDir('auth');
afterAll(() => data.remove());
const secret = 'a-test-secret-that-is-long-enough-1234567890';

describe('HS256', () => {
  it('verifies what it signs, with tenant and document roles', async () => {
    const auth = await Authenticator.create({ dataDir: data.dir, jwtSecret: secret });
    const token = await auth.sign({ sub: 'bob', tenant: 'acme', docs: { song: 'owner' } });
    expect(await auth.verify(token)).toEqual({ userId: 'bob', tenantId: 'acme', docs: { song: 'owner' } });
  });

  it('defaults the tenant and refuses claims it does not understand', async () => {
    const auth = await Authenticator.create({ dataDir: data.dir, jwtSecret: secret });
    expect((await auth.verify(await auth.sign({ sub: 'bob' }))).tenantId).toBe('default');
    const key = new TextEncoder().encode(secret);
    const badRole = await new SignJWT({ docs: { song: 'admin' } }).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime('1h').sign(key);
    await expect(auth.verify(badRole)).rejects.toThrow(/invalid token claims: docs.song/);
    const badTenant = await new SignJWT({ tid: 'Not A Slug' }).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime('1h').sign(key);
    await expect(auth.verify(badTenant)).rejects.toThrow(/tid/);
    const noExpiry = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').sign(key);
    await expect(auth.verify(noExpiry)).rejects.toThrow(/exp/);
  });

  it('enforces issuer and audience when configured', async () => {
    const strict = await Authenticator.create({ dataDir: data.dir, jwtSecret: secret, jwtIssuer: 'https://id.example', jwtAudience: 'veza' });
    const loose = await Authenticator.create({ dataDir: data.dir, jwtSecret: secret });
    await expect(strict.verify(await loose.sign({ sub: 'bob' }))).rejects.toThrow(/claim/);
    expect((await strict.verify(await strict.sign({ sub: 'bob' }))).userId).toBe('bob');
  });

  it('generates one development secret, private to its owner, and reuses it', async () => {
    const dir = path.join(data.dir, 'dev');
    const first = await Authenticator.create({ dataDir: dir });
    const second = await Authenticator.create({ dataDir: dir });
    expect(first.secretSource).toBe('generated');
    expect(await second.verify(await first.sign({ sub: 'carol' }))).toMatchObject({ userId: 'carol' });
    expect(statSync(path.join(dir, 'dev-jwt-secret')).mode & 0o777).toBe(0o600);
    const other = await Authenticator.create({ dataDir: path.join(data.dir, 'other') });
    await expect(other.verify(await first.sign({ sub: 'carol' }))).rejects.toThrow(/signature/);
  });
});

describe('RS256 with a configured public key', () => {
  it('accepts tokens from the private key and refuses HS256 tokens keyed with the public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const auth = await Authenticator.create({ dataDir: data.dir, jwtPublicKey: pem });
    expect(auth.algorithm).toBe('RS256');
    const good = await new SignJWT({ tid: 'acme', docs: { '*': 'viewer' } }).setProtectedHeader({ alg: 'RS256' }).setSubject('dan').setExpirationTime('1h').sign(privateKey);
    expect(await auth.verify(good)).toEqual({ userId: 'dan', tenantId: 'acme', docs: { '*': 'viewer' } });
    // The classic algorithm-confusion attack: HMAC keyed with the (public) PEM text.
    const confused = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime('1h').sign(new TextEncoder().encode(pem));
    await expect(auth.verify(confused)).rejects.toThrow(/algorithm/);
    await expect(auth.sign({ sub: 'dan' })).rejects.toThrow(/private key/);
  });
});

describe('document roles', () => {
  it('prefers the exact document over the wildcard', () => {
    const p = { userId: 'u', tenantId: 'default', docs: { '*': 'viewer' as const, mine: 'owner' as const } };
    expect(roleFor(p, 'mine')).toBe('owner');
    expect(roleFor(p, 'theirs')).toBe('viewer');
    expect(roleFor({ ...p, docs: {} }, 'mine')).toBeNull();
    expect([canWrite('owner'), canWrite('editor'), canWrite('viewer'), canWrite(null)]).toEqual([true, true, false, false]);
  });
});
