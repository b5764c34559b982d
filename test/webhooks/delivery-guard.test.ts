// What keeps webhook delivery safe and bounded, on real sockets: endpoints at loopback, private and
// reserved addresses are refused when saved and again when sent (a name resolving to one included),
// an attempt ends at its time limit, redirects are not followed, and the retry schedule is read
// from its setting with a clear error for a bad one.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { isPrivateAddress } from '../../src/webhooks/address-guard.js';
import { attemptDelivery } from '../../src/webhooks/attempt.js';
import { checkEndpointUrl } from '../../src/webhooks/endpoints.js';
import { parseDuration } from '../../src/webhooks/settings.js';
import { signedHeaders } from '../../src/webhooks/signing.js';
import { Receiver } from './support.js';

describe('webhook addresses', () => {
  it.each(['127.0.0.1', '10.0.0.5', '172.16.3.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-ip'])('%s is refused', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['93.184.215.14', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it('refuses a URL naming a private address or localhost when saved, unless allowed', () => {
    for (const url of ['http://127.0.0.1:8080/hook', 'https://[::1]/hook', 'http://10.1.2.3/', 'http://169.254.169.254/latest/meta-data', 'http://localhost:3000/', 'http://api.localhost/']) {
      expect(() => checkEndpointUrl(url, false), url).toThrow(/loopback, private or reserved address; webhooks go to public addresses only/);
      expect(checkEndpointUrl(url, true)).toBe(new URL(url).href);
    }
    expect(checkEndpointUrl('https://hooks.example.com/veza', false)).toBe('https://hooks.example.com/veza');
    expect(() => checkEndpointUrl('https://hooks.example.com/veza#part', false)).toThrow(/fragment/);
    expect(() => checkEndpointUrl('javascript:alert(1)', false)).toThrow(/must use https: or http:/);
  });
});

describe('one delivery attempt', () => {
  let receiver: Receiver;
  let silent: http.Server;
  let silentPort: number;
  const attempt = (url: string, allowPrivate: boolean, timeoutMs = 5000) =>
    attemptDelivery({ url, body: '{"type":"tip.sent"}', headers: signedHeaders(['whsec_' + Buffer.alloc(24, 1).toString('base64')], 'msg_1', '{"type":"tip.sent"}'), timeoutMs, allowPrivate });

  beforeAll(async () => {
    receiver = await new Receiver().start();
    // Takes the request and never answers.
    silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await receiver.stop();
    silent.closeAllConnections();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('never connects to a private address when they are not allowed, whether named by address or by a name that resolves to one', async () => {
    for (const url of [receiver.url('/literal'), `http://localhost:${receiver.port}/named`]) {
      const result = await attempt(url, false);
      expect(result, url).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/loopback, private or reserved address/) });
    }
    expect(receiver.received).toHaveLength(0);
    expect(await attempt(receiver.url('/allowed'), true)).toMatchObject({ ok: true, status: 200, error: null, responseBody: 'ok' });
    expect(receiver.at('/allowed')[0]!.headers).toMatchObject({ 'webhook-id': 'msg_1', 'content-type': 'application/json', 'user-agent': 'Veza-Webhooks/1' });
  });

  it('ends an attempt that gets no answer at its time limit', async () => {
    const result = await attempt(`http://127.0.0.1:${silentPort}/`, true, 300);
    expect(result).toMatchObject({ ok: false, status: null, error: 'no answer within 300 ms' });
  });

  it('counts a redirect as a failure and does not follow it', async () => {
    receiver.answer('/moved', 302);
    const result = await attempt(receiver.url('/moved'), true);
    expect(result).toMatchObject({ ok: false, status: 302, error: 'the endpoint answered 302' });
    expect(receiver.received.filter((r) => r.path !== '/moved' && r.path !== '/allowed')).toHaveLength(0);
  });
});

describe('the retry schedule setting', () => {
  it("defaults to Svix's schedule", () => {
    expect(loadConfig({}).webhooks.retrySchedule).toEqual([0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
  });

  it('reads durations with units and refuses anything else with the setting named', () => {
    expect(loadConfig({ VEZA_WEBHOOKS_RETRY_SCHEDULE: '0, 250ms, 1s, 2m' }).webhooks.retrySchedule).toEqual([0, 250, 1000, 120_000]);
    expect(parseDuration('5')).toBeNull();
    expect(() => loadConfig({ VEZA_WEBHOOKS_RETRY_SCHEDULE: '0,soon' })).toThrow(ConfigError);
    expect(() => loadConfig({ VEZA_WEBHOOKS_RETRY_SCHEDULE: '0,soon' })).toThrow(/VEZA_WEBHOOKS_RETRY_SCHEDULE="0,soon": "soon" is not a duration/);
  });
});
