// Tenants' webhooks on one server: messages signed per Standard Webhooks and verified with the
// `standardwebhooks` package on a real HTTP receiver, both signatures during a secret's rotation,
// retries after a failed answer, an endpoint disabled after failing without a break, replay of a
// message, isolation between tenants, and bad input answered with problem JSON.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import pino from 'pino';
import { WebhookSender } from '../../src/webhooks/sender.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor as waitWithin } from '../helpers/wait.js';
import { call, Receiver } from './support.js';

/** A busy machine (the server's threads share two cores with other suites) is slow, never wrong: wait long. */
const waitFor = <T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string) => waitWithin(check, what, 60_000);

type Endpoint = { id: string; enabled: boolean; disabledReason: string | null; failingSince: string | null; secrets: unknown[] };
type Message = { id: string; eventId: string; eventType: string; deliveries: { id: string; endpointId: string; state: string; attempts: number; replayOf: string | null }[] };
type Attempt = { attempt: number; status: string; responseCode: number | null; durationMs: number; deliveryId: string; error: string | null };

describe('tenant webhooks', { timeout: 120_000 }, () => {
  let server: TestServer;
  let receiver: Receiver;
  const admin: Record<string, string> = {};
  let member: string;
  let tipCount = 0;

  const as = (tenant: string) => (method: string, path: string, body?: unknown) => call(server.url, method, `/api/v1/webhooks${path}`, admin[tenant]!, body);
  const a = (method: string, path: string, body?: unknown) => as('hooks-a')(method, path, body);

  const tip = async (tenantId: string): Promise<VezaEvent> => {
    const event = createEvent('tip.sent', { tenantId, actor: 'fan-1', payload: { roomId: 'room-1', fromUserId: 'fan-1', toUserId: 'dj-1', amount: 100 + tipCount++, currency: 'EUR' } });
    await server.veza.bus.publish(event);
    return event;
  };
  const endpoint = async (path: string, body: Record<string, unknown> = {}) => {
    const made = await a('POST', '/endpoints', { url: receiver.url(path), eventTypes: ['tip.sent'], ...body });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    return made.body as { endpoint: Endpoint; secret: string };
  };
  const message = async (eventId: string) =>
    waitFor(async () => ((await a('GET', '/messages?limit=500')).body.messages as Message[]).find((m) => m.eventId === eventId), `the message of event ${eventId}`);
  const attempts = async (messageId: string) => (await a('GET', `/messages/${messageId}/attempts`)).body.attempts as Attempt[];

  beforeAll(async () => {
    receiver = await new Receiver().start();
    server = await startTestServer({
      'webhooks-allow-private': 'true',
      'webhooks-retry-schedule': '0,300ms,300ms,300ms,300ms,300ms,300ms,300ms',
      'webhooks-poll-ms': '50',
      'webhooks-attempt-timeout-ms': '3000',
      'webhooks-disable-after-s': '1',
      'rate-limit-requests-per-minute': '0',
    });
    const operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
    for (const id of ['hooks-a', 'hooks-b']) {
      expect((await call(server.url, 'POST', '/api/v1/platform/tenants', operator, { id, name: id })).status).toBe(201);
      admin[id] = await server.veza.auth.sign({ sub: `admin-of-${id}`, tenant: id, admin: true });
    }
    member = await server.veza.auth.sign({ sub: 'someone', tenant: 'hooks-a' });
  }, 300_000);
  afterAll(async () => {
    await server?.stop();
    await receiver?.stop();
  });

  it('signs each message so that the standardwebhooks package verifies it, on a real receiver', async () => {
    const { endpoint: made, secret } = await endpoint('/signed');
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(made).toMatchObject({ enabled: true, disabledReason: null });
    const event = await tip('hooks-a');
    const [got] = await waitFor(() => receiver.at('/signed').length > 0 && receiver.at('/signed'), 'the webhook');
    const verified = new Webhook(secret).verify(got!.body, got!.headers) as { type: string; timestamp: string; data: Record<string, unknown>; event: Record<string, unknown> };
    expect(verified).toEqual({ type: 'tip.sent', timestamp: event.at, data: event.payload, event: { id: event.id, tenantId: 'hooks-a', actor: 'fan-1' } });
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    // Another secret does not verify it, nor does a changed body.
    expect(() => new Webhook('whsec_' + Buffer.alloc(24, 7).toString('base64')).verify(got!.body, got!.headers)).toThrow();
    expect(() => new Webhook(secret).verify(got!.body.replace('EUR', 'USD'), got!.headers)).toThrow();
    const logged = await message(event.id);
    expect(got!.headers['webhook-id']).toBe(logged.id);
    await waitFor(async () => (await attempts(logged.id)).length === 1, 'the attempt logged');
    const [attempt] = await attempts(logged.id);
    expect(attempt).toMatchObject({ attempt: 1, status: 'succeeded', responseCode: 200, error: null });
    expect(attempt!.durationMs).toBeGreaterThanOrEqual(0);
    await a('PATCH', `/endpoints/${made.id}`, { enabled: false });
  });

  it('signs with both secrets while a rotation overlaps, and each secret verifies alone', async () => {
    const { endpoint: made, secret: first } = await endpoint('/rotating');
    const rotated = await a('POST', `/endpoints/${made.id}/secrets/rotate`, { overlapSeconds: 3600 });
    expect(rotated.status).toBe(200);
    const second = rotated.body.secret as string;
    expect(second).not.toBe(first);
    expect((rotated.body.endpoint as Endpoint).secrets).toHaveLength(2);
    const listed = await a('GET', `/endpoints/${made.id}/secrets`);
    expect((listed.body.secrets as { secret: string }[]).map((s) => s.secret).sort()).toEqual([first, second].sort());
    await tip('hooks-a');
    const [got] = await waitFor(() => receiver.at('/rotating').length > 0 && receiver.at('/rotating'), 'the webhook');
    expect(got!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    for (const secret of [first, second]) expect(new Webhook(secret).verify(got!.body, got!.headers)).toMatchObject({ type: 'tip.sent' });
    // A rotation without overlap: only the newest secret signs from then on.
    const third = (await a('POST', `/endpoints/${made.id}/secrets/rotate`, { overlapSeconds: 0 })).body.secret as string;
    await tip('hooks-a');
    const later = await waitFor(() => receiver.at('/rotating')[1], 'the second webhook');
    expect(later.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    expect(new Webhook(third).verify(later.body, later.headers)).toMatchObject({ type: 'tip.sent' });
    expect(() => new Webhook(second).verify(later.body, later.headers)).toThrow();
    await a('PATCH', `/endpoints/${made.id}`, { enabled: false });
  });

  it('tries again after a failed answer (500, then 200), with the same webhook-id, and logs both attempts', async () => {
    receiver.answer('/flaky', 500, 200);
    const { endpoint: made } = await endpoint('/flaky');
    const event = await tip('hooks-a');
    const logged = await message(event.id);
    await waitFor(async () => (await attempts(logged.id)).length === 2, 'two attempts');
    const log = await attempts(logged.id);
    expect(log.map((x) => [x.attempt, x.status, x.responseCode])).toEqual([
      [1, 'failed', 500],
      [2, 'succeeded', 200],
    ]);
    expect(log[0]!.error).toMatch(/answered 500/);
    const sent = receiver.at('/flaky');
    expect(sent.map((r) => r.status)).toEqual([500, 200]);
    expect(new Set(sent.map((r) => r.headers['webhook-id']))).toEqual(new Set([logged.id]));
    expect((await a('GET', `/messages/${logged.id}`)).body).toMatchObject({ deliveries: [{ endpointId: made.id, state: 'delivered', attempts: 2 }] });
    expect(((await a('GET', `/endpoints/${made.id}`)).body as Endpoint).failingSince).toBeNull();
    await a('PATCH', `/endpoints/${made.id}`, { enabled: false });
  });

  it('disables an endpoint that fails without a break for longer than the setting, and its administrator enables it again', async () => {
    receiver.answer('/down', 503);
    const { endpoint: made } = await endpoint('/down');
    await tip('hooks-a');
    const disabled = await waitFor(async () => {
      const now = (await a('GET', `/endpoints/${made.id}`)).body as Endpoint;
      return !now.enabled && now;
    }, 'the endpoint disabled');
    expect(disabled.disabledReason).toMatch(/every attempt failed since/);
    expect(disabled.failingSince).not.toBeNull();
    const tried = receiver.at('/down').length;
    expect(tried).toBeGreaterThanOrEqual(2);
    // Disabled: a new event goes to the endpoints still enabled, not to it.
    const { endpoint: witness } = await endpoint('/witness');
    const quiet = await tip('hooks-a');
    const later = await message(quiet.id);
    expect(later.deliveries.map((d) => d.endpointId)).toEqual([witness.id]);
    expect(receiver.at('/down')).toHaveLength(tried);
    await a('PATCH', `/endpoints/${witness.id}`, { enabled: false });
    const enabled = await a('PATCH', `/endpoints/${made.id}`, { enabled: true });
    expect(enabled.body).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
    await a('DELETE', `/endpoints/${made.id}`);
  });

  it('replays a stored message by its id: the receiver gets it again with the same webhook-id', async () => {
    const { endpoint: made, secret } = await endpoint('/replayed');
    const event = await tip('hooks-a');
    const logged = await message(event.id);
    await waitFor(() => receiver.at('/replayed').length === 1, 'the first delivery');
    const replay = await a('POST', `/messages/${logged.id}/replay`);
    expect(replay.status).toBe(202);
    expect(replay.body).toMatchObject({ messageId: logged.id, deliveries: [{ endpointId: made.id }] });
    const [, again] = await waitFor(() => receiver.at('/replayed').length === 2 && receiver.at('/replayed'), 'the replay');
    expect(again!.headers['webhook-id']).toBe(logged.id);
    expect(new Webhook(secret).verify(again!.body, again!.headers)).toMatchObject({ type: 'tip.sent', event: { id: event.id } });
    const deliveries = ((await a('GET', `/messages/${logged.id}`)).body as Message).deliveries;
    expect(deliveries).toHaveLength(2);
    expect(deliveries[1]!.replayOf).toBe(deliveries[0]!.id);
    await waitFor(async () => ((await a('GET', `/messages/${logged.id}`)).body as Message).deliveries.every((d) => d.state === 'delivered'), 'both delivered');
    // To one named endpoint; an unknown message or endpoint is a 404.
    expect((await a('POST', `/messages/${logged.id}/replay`, { endpointId: made.id })).status).toBe(202);
    const missing = await a('POST', '/messages/msg_00000000000000000000000000000000/replay');
    expect(missing).toMatchObject({ status: 404, type: 'application/problem+json', body: { detail: 'no webhook message msg_00000000000000000000000000000000' } });
    expect((await a('POST', `/messages/${logged.id}/replay`, { endpointId: 'ep_nope' })).body.detail).toBe('no webhook endpoint ep_nope');
    await a('PATCH', `/endpoints/${made.id}`, { enabled: false });
  });

  it("keeps each tenant's endpoints, messages and log to itself", async () => {
    const { endpoint: mine } = await endpoint('/tenant-a');
    const b = as('hooks-b');
    const theirs = await b('POST', '/endpoints', { url: receiver.url('/tenant-b'), eventTypes: ['tip.sent'] });
    expect(theirs.status).toBe(201);
    const eventA = await tip('hooks-a');
    const eventB = await tip('hooks-b');
    await waitFor(() => receiver.at('/tenant-a').length === 1 && receiver.at('/tenant-b').length === 1, 'one webhook each');
    expect(JSON.parse(receiver.at('/tenant-a')[0]!.body)).toMatchObject({ event: { id: eventA.id, tenantId: 'hooks-a' } });
    expect(JSON.parse(receiver.at('/tenant-b')[0]!.body)).toMatchObject({ event: { id: eventB.id, tenantId: 'hooks-b' } });
    const listedB = (await b('GET', '/endpoints')).body.endpoints as Endpoint[];
    expect(listedB.map((e) => e.id)).toEqual([(theirs.body.endpoint as Endpoint).id]);
    const messageA = await message(eventA.id);
    const messagesB = (await b('GET', '/messages')).body.messages as Message[];
    expect(messagesB.map((m) => m.eventId)).toEqual([eventB.id]);
    expect((await b('GET', `/endpoints/${mine.id}`)).status).toBe(404);
    expect((await b('GET', `/endpoints/${mine.id}/secrets`)).status).toBe(404);
    expect((await b('PATCH', `/endpoints/${mine.id}`, { enabled: false })).status).toBe(404);
    expect((await b('GET', `/messages/${messageA.id}`)).status).toBe(404);
    expect((await b('GET', `/messages/${messageA.id}/attempts`)).status).toBe(404);
    expect((await b('POST', `/messages/${messageA.id}/replay`)).status).toBe(404);
    expect((await b('GET', `/endpoints/${mine.id}/attempts`)).status).toBe(404);
    await a('PATCH', `/endpoints/${mine.id}`, { enabled: false });
  });

  it('removes messages past the retention, with their deliveries and attempts, and keeps the recent ones', async () => {
    const { endpoint: made } = await endpoint('/kept');
    const recent = await message((await tip('hooks-a')).id);
    const longAgo = new Date(Date.now() - 40 * 86_400_000);
    const old = 'msg_0ld0000000000000000000000000000';
    await server.veza.storage.withTenant('hooks-a', async (trx) => {
      await trx.insertInto('wh_messages').values({ tenant_id: 'hooks-a', id: old, event_id: 'an-old-event', event_type: 'tip.sent', body: '{}', created_at: longAgo }).execute();
      const later = new Date(Date.now() + 365 * 86_400_000);
      await trx.insertInto('wh_deliveries').values({ tenant_id: 'hooks-a', id: 'dlv_old', message_id: old, endpoint_id: made.id, next_attempt_at: later, replay_of: null, created_at: longAgo }).execute();
      await trx
        .insertInto('wh_attempts')
        .values({ tenant_id: 'hooks-a', id: 'atm_old', delivery_id: 'dlv_old', message_id: old, endpoint_id: made.id, attempt: 1, at: longAgo, status: 'failed', response_code: 500, duration_ms: 3, error: 'the endpoint answered 500', response_body: null })
        .execute();
    });
    expect((await a('GET', `/messages/${old}/attempts`)).body.attempts).toHaveLength(1);
    // The sender of the consumers thread purges hourly; one made here purges now, on the same database.
    const sender = new WebhookSender(server.veza.storage, server.config.webhooks, pino({ level: 'silent' }));
    expect(await sender.purge()).toBe(1);
    expect((await a('GET', `/messages/${old}`)).status).toBe(404);
    expect((await a('GET', `/endpoints/${made.id}/attempts`)).body.attempts).not.toContainEqual(expect.objectContaining({ messageId: old }));
    expect((await a('GET', `/messages/${recent.id}`)).status).toBe(200);
    await a('PATCH', `/endpoints/${made.id}`, { enabled: false });
  });

  it('answers bad input and the wrong caller with problem JSON naming the problem', async () => {
    const bad = async (body: unknown, detail: RegExp) => {
      const reply = await a('POST', '/endpoints', body);
      expect(reply.status, JSON.stringify(reply.body)).toBe(400);
      expect(reply.type).toBe('application/problem+json');
      expect(reply.body.detail).toMatch(detail);
    };
    await bad({ url: 'not a url', eventTypes: ['tip.sent'] }, /url "not a url" is not a URL/);
    await bad({ url: 'ftp://example.com/hook', eventTypes: ['tip.sent'] }, /url must use https: or http:/);
    await bad({ url: 'https://example.com/hook', eventTypes: ['tip.sent', 'session.exploded'] }, /eventTypes\.1: unknown event type "session\.exploded"; choose from session\.closed/);
    await bad({ url: 'https://example.com/hook', eventTypes: ['session.updated'] }, /unknown event type "session\.updated"/);
    await bad({ url: 'https://example.com/hook', eventTypes: [] }, /eventTypes: name at least one event type/);
    await bad({ url: 'https://example.com/hook', eventTypes: ['tip.sent'], secret: 'hunter2' }, /secret: a secret is whsec_/);
    await bad({ url: 'https://example.com/hook', eventTypes: ['tip.sent'], colour: 'red' }, /colour/);
    const notJson = await a('POST', '/endpoints', '{"url":');
    expect(notJson).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/not valid JSON/) } });
    expect((await a('GET', '/endpoints/ep_missing')).body).toMatchObject({ status: 404, detail: 'no webhook endpoint ep_missing' });
    expect((await a('GET', '/messages?limit=0')).body.detail).toBe('limit must be a whole number from 1 to 500');
    const types = await a('GET', '/event-types');
    expect(types.body.eventTypes).toEqual(expect.arrayContaining(['session.closed', 'recording.ended', 'tip.sent', 'nft.sold', 'achievement.unlocked']));
    const notAdmin = await call(server.url, 'GET', '/api/v1/webhooks/endpoints', member);
    expect(notAdmin).toMatchObject({ status: 403, type: 'application/problem+json', body: { detail: expect.stringMatching(/tenant administrator/) } });
  });
});
