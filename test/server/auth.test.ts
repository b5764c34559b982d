import { createHmac } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Authenticator, canWrite, roleFor } from '../../src/server/auth.js';
import { tempDir } from '../helpers/services.js';

const data = tempDir('auth');
afterAll(() => data.remove());
const secret = 'a-test-secret-that-is-long-enough-1234567890';

describe('HS256', () => {
  it('verifies what it signs, with tenant and document roles', async () => {
    const auth = await Authenticator.create({ settings: { jwtSecret: secret }, dataDir: data.dir });
    const token = await auth.sign({ sub: 'bob', tenant: 'acme', docs: { song: 'owner' } });
    expect(auth.verify(token)).toEqual({ userId: 'bob', tenantId: 'acme', docs: { song: 'owner' } });
  });

  it('defaults the tenant and refuses claims it does not understand', async () => {
    const auth = await Authenticator.create({ settings: { jwtSecret: secret }, dataDir: data.dir });
    expect(auth.verify(await auth.sign({ sub: 'bob' })).tenantId).toBe('default');
    const key = new TextEncoder().encode(secret);
    const badRole = await new SignJWT({ docs: { song: 'admin' } }).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime('1h').sign(key);
    expect(() => auth.verify(badRole)).toThrow(/invalid token claims: docs.song/);
    const badTenant = await new SignJWT({ tid: 'Not A Slug' }).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime('1h').sign(key);
    expect(() => auth.verify(badTenant)).toThrow(/tid/);
    const noExpiry = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').sign(key);
    expect(() => auth.verify(noExpiry)).toThrow(/exp/);
  });

  it('enforces issuer and audience when configured', async () => {
    const strict = await Authenticator.create({ settings: { jwtSecret: secret, jwtIssuer: 'https://id.example', jwtAudience: 'veza' }, dataDir: data.dir });
    const loose = await Authenticator.create({ settings: { jwtSecret: secret }, dataDir: data.dir });
    const unscoped = await loose.sign({ sub: 'bob' });
    expect(() => strict.verify(unscoped)).toThrow(/claim iss/);
    expect(strict.verify(await strict.sign({ sub: 'bob' })).userId).toBe('bob');
  });

  it('generates one development secret, private to its owner, and reuses it', async () => {
    const dir = path.join(data.dir, 'dev');
    const first = await Authenticator.create({ settings: {}, dataDir: dir });
    const second = await Authenticator.create({ settings: {}, dataDir: dir });
    expect(first.secretSource).toBe('generated');
    expect(second.verify(await first.sign({ sub: 'carol' }))).toMatchObject({ userId: 'carol' });
    expect(statSync(path.join(dir, 'dev-jwt-secret')).mode & 0o777).toBe(0o600);
    const other = await Authenticator.create({ settings: {}, dataDir: path.join(data.dir, 'other') });
    const foreign = await first.sign({ sub: 'carol' });
    expect(() => other.verify(foreign)).toThrow(/signature/);
  });
});

describe('token validation (tokens made by jose, an independent implementation, or by hand)', () => {
  const key = new TextEncoder().encode(secret);
  const auth = Authenticator.create({ settings: { jwtSecret: secret, jwtAudience: 'veza' }, dataDir: data.dir });
  const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  const signed = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256' }) =>
    new SignJWT(claims).setProtectedHeader(header as { alg: string }).setSubject('bob').sign(key);

  it('accepts an audience list that names this server, and time claims in range', async () => {
    const token = await signed({ aud: ['other', 'veza'], iat: Math.floor(Date.now() / 1000) - 5, nbf: Math.floor(Date.now() / 1000) - 5, exp: Math.floor(Date.now() / 1000) + 60 });
    expect((await auth).verify(token).userId).toBe('bob');
  });

  it('refuses expired, not-yet-valid, wrong-audience and non-numeric time claims, saying which', async () => {
    const now = Math.floor(Date.now() / 1000);
    const verifier = await auth;
    expect(() => verifier.verify(undefined)).toThrow('missing token');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ aud: 'veza', exp: now - 1 }, /token expired/],
      [{ aud: 'veza', exp: now + 60, nbf: now + 30 }, /claim nbf is not valid/],
      [{ aud: 'someone-else', exp: now + 60 }, /claim aud is not valid/],
      [{ aud: 'veza', exp: String(now + 60) }, /claim exp is not valid: not a number/],
      [{ aud: 'veza', exp: now + 60, iat: 'yesterday' }, /claim iat is not valid/],
    ];
    for (const [claims, error] of cases) {
      const token = await signed(claims);
      expect(() => verifier.verify(token)).toThrow(error);
    }
  });

  it('refuses malformed tokens, critical header extensions, "none" and tampered payloads', async () => {
    const verifier = await auth;
    const exp = Math.floor(Date.now() / 1000) + 60;
    const good = await signed({ aud: 'veza', exp });
    const [header, payload, signature] = good.split('.') as [string, string, string];
    // Correctly signed by hand, so that only the property under test is wrong.
    const handSigned = (h: unknown, p: unknown) => `${b64(h)}.${b64(p)}.${createHmac('sha256', key).update(`${b64(h)}.${b64(p)}`).digest('base64url')}`;
    expect(verifier.verify(handSigned({ alg: 'HS256' }, { sub: 'bob', aud: 'veza', exp })).userId).toBe('bob');
    for (const bad of ['abc', `${header}.${payload}`, `${header}.${payload}.${signature}.x`, `${header}.${payload}.not base64!`, handSigned([1], { sub: 'bob', aud: 'veza', exp }), handSigned({ alg: 'HS256' }, 'not json'), handSigned({ alg: 'HS256' }, [1, 2])]) {
      expect(() => verifier.verify(bad), bad).toThrow(/malformed/);
    }
    expect(() => verifier.verify(handSigned({ alg: 'none' }, { sub: 'bob', aud: 'veza', exp }))).toThrow(/algorithm/);
    expect(() => verifier.verify(handSigned({ alg: 'HS256', crit: ['x'], x: 1 }, { sub: 'bob', aud: 'veza', exp }))).toThrow(/unsupported header/);
    expect(() => verifier.verify(handSigned({ alg: 'HS256', b64: false, crit: ['b64'] }, { sub: 'bob', aud: 'veza', exp }))).toThrow(/unsupported header/);
    const escalated = `${header}.${b64({ sub: 'bob', aud: 'veza', exp, docs: { '*': 'owner' } })}.${signature}`;
    expect(() => verifier.verify(escalated)).toThrow(/signature/);
    expect(() => verifier.verify(`${header}.${payload}.${signature.slice(0, -4)}`)).toThrow(/signature/);
  });
});

describe('a token presented again', () => {
  afterEach(() => vi.useRealTimers());
  const key = new TextEncoder().encode(secret);

  it('expires on time and becomes valid at nbf although it verified before', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = new Date('2026-06-01T12:00:00Z');
    vi.setSystemTime(start);
    const auth = await Authenticator.create({ settings: { jwtSecret: secret }, dataDir: data.dir });
    const now = Math.floor(start.getTime() / 1000);
    const shortLived = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime(now + 10).sign(key);
    expect(auth.verify(shortLived).userId).toBe('bob');
    vi.setSystemTime(start.getTime() + 9_000);
    expect(auth.verify(shortLived).userId).toBe('bob');
    vi.setSystemTime(start.getTime() + 10_000);
    expect(() => auth.verify(shortLived)).toThrow(/token expired/);

    vi.setSystemTime(start);
    const later = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('carol').setNotBefore(now + 5).setExpirationTime(now + 60).sign(key);
    expect(() => auth.verify(later)).toThrow(/claim nbf/);
    vi.setSystemTime(start.getTime() + 5_000);
    expect(auth.verify(later).userId).toBe('carol');
    vi.setSystemTime(start.getTime() - 1_000); // a clock stepped back: not yet valid again
    expect(() => auth.verify(later)).toThrow(/claim nbf/);
  });

  it('gives each holder the same unchangeable principal, and never lends it to an altered token', async () => {
    const auth = await Authenticator.create({ settings: { jwtSecret: secret }, dataDir: data.dir });
    const token = await auth.sign({ sub: 'bob', docs: { song: 'viewer' } });
    const first = auth.verify(token);
    expect(auth.verify(token)).toBe(first);
    expect(() => {
      (first.docs as Record<string, string>).song = 'owner';
    }).toThrow(TypeError);
    expect(auth.verify(token).docs).toEqual({ song: 'viewer' });
    const [header, , signature] = token.split('.') as [string, string, string];
    const escalated = `${header}.${Buffer.from(JSON.stringify({ sub: 'bob', docs: { song: 'owner' }, exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url')}.${signature}`;
    expect(() => auth.verify(escalated)).toThrow(/signature/);
  });
});

describe('RS256 with a configured public key', () => {
  it('accepts tokens from the private key and refuses HS256 tokens keyed with the public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const auth = await Authenticator.create({ settings: { jwtPublicKey: pem }, dataDir: data.dir });
    expect(auth.algorithm).toBe('RS256');
    const good = await new SignJWT({ tid: 'acme', docs: { '*': 'viewer' } }).setProtectedHeader({ alg: 'RS256' }).setSubject('dan').setExpirationTime('1h').sign(privateKey);
    expect(auth.verify(good)).toEqual({ userId: 'dan', tenantId: 'acme', docs: { '*': 'viewer' } });
    // The classic algorithm-confusion attack: HMAC keyed with the (public) PEM text.
    const confused = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime('1h').sign(new TextEncoder().encode(pem));
    expect(() => auth.verify(confused)).toThrow(/algorithm/);
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
