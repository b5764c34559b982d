import { describe, expect, it } from 'vitest';
import { checkEvent, clientReportableTypes, createEvent, eventTypes, parseEvent, payloadSchemas, type VezaEvent } from '../../src/events/catalog.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'evt-1',
    type: 'session.updated',
    tenantId: 'acme',
    at: '2024-05-01T12:00:00.000Z',
    payload: { sessionId: 's1', author: 'u1', bytes: 42, changed: ['tempo'] },
    ...overrides,
  };
}

function errorOf(input: unknown): string {
  const result = parseEvent(input);
  if (result.ok) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return result.error;
}

describe('event catalog', () => {
  it('has a payload schema for every type the architecture names, and nothing untyped', () => {
    expect([...eventTypes].sort()).toEqual(
      [
        'session.opened',
        'session.closed',
        'session.updated',
        'session.versioned',
        'session.branched',
        'session.authorship',
        'bounce.progress',
        'presence.joined',
        'presence.left',
        'track.played',
        'track.liked',
        'track.shared',
        'track.purchased',
        'stream.started',
        'stream.ended',
        'stream.viewer.joined',
        'stream.viewer.left',
        'tenant.changed',
        'tenant.domain.changed',
        'tenant.branding.changed',
        'usage.minute',
        'usage.invoice',
        'tenant.credentials.changed',
        'tenant.quotas_changed',
        'stream.quality',
        'voice.speaker.changed',
        'recording.ended',
        'tip.sent',
        'tip.refunded',
        'achievement.unlocked',
        'level.up',
        'quest.completed',
        'user.followed',
        'experiment.exposed',
        'recommendations.signals.stored',
        'experiment.outcome',
        'insights.alert',
        'nft.minted',
        'nft.sold',
        'nft.licensed',
        'nft.retracted',
      ].sort(),
    );
    for (const type of eventTypes) expect(typeof payloadSchemas[type].safeParse).toBe('function');
    for (const type of clientReportableTypes) expect(eventTypes).toContain(type);
  });

  it('createEvent builds a complete, valid event with a fresh id and the current time', () => {
    const before = Date.now();
    const event = createEvent('session.updated', {
      tenantId: 'acme',
      actor: 'user-7',
      payload: { sessionId: 's1', author: 'user-7', bytes: 1024, changed: ['tempo', 'tracks'] },
    });
    const after = Date.now();

    expect(event.type).toBe('session.updated');
    expect(event.tenantId).toBe('acme');
    expect(event.actor).toBe('user-7');
    expect(event.id).toMatch(UUID);
    expect(event.payload).toEqual({ sessionId: 's1', author: 'user-7', bytes: 1024, changed: ['tempo', 'tracks'] });
    const at = Date.parse(event.at);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
    // What createEvent returns is exactly what a consumer parses back from the wire.
    expect(parseEvent(JSON.parse(JSON.stringify(event)))).toEqual({ ok: true, event });
    // Each call gets its own id.
    expect(createEvent('track.liked', { tenantId: 'acme', payload: { trackId: 'x' } }).id).not.toBe(
      createEvent('track.liked', { tenantId: 'acme', payload: { trackId: 'x' } }).id,
    );
  });

  it('createEvent keeps a given id and time, and leaves actor out when there is none', () => {
    const event = createEvent('tip.sent', {
      tenantId: 'default',
      id: 'tip-123',
      at: new Date('2024-01-02T03:04:05.678Z'),
      payload: { roomId: 'r', fromUserId: 'a', toUserId: 'b', amount: 500, currency: 'EUR', message: 'nice set' },
    });
    expect(event).toEqual({
      id: 'tip-123',
      type: 'tip.sent',
      tenantId: 'default',
      at: '2024-01-02T03:04:05.678Z',
      payload: { roomId: 'r', fromUserId: 'a', toUserId: 'b', amount: 500, currency: 'EUR', message: 'nice set' },
    });
    expect(Object.keys(event)).not.toContain('actor');
  });

  it('createEvent throws, naming the field, when the payload does not match its type', () => {
    expect(() =>
      createEvent('track.purchased', { tenantId: 'acme', payload: { trackId: 't', amount: 100, currency: 'usd' } }),
    ).toThrow(/invalid track\.purchased event: .*payload\.currency/);
    expect(() => createEvent('track.purchased', { tenantId: 'acme', payload: { trackId: 't', amount: -1, currency: 'USD' } })).toThrow(
      /payload\.amount/,
    );
    expect(() => createEvent('track.liked', { tenantId: 'Not A Tenant', payload: { trackId: 't' } })).toThrow(/tenantId/);
  });

  it('createEvent is typed: a payload of another type does not compile', () => {
    // These lines are checked by `tsc -p .`; an unused @ts-expect-error would fail the typecheck.
    const wrongPayload = () =>
      // @ts-expect-error tip.sent has no trackId and needs roomId, amount, ...
      createEvent('tip.sent', { tenantId: 'acme', payload: { trackId: 't' } });
    const unknownType = () =>
      // @ts-expect-error not in the catalog
      createEvent('track.disliked', { tenantId: 'acme', payload: { trackId: 't' } });
    expect(wrongPayload).toThrow(/payload\.roomId/);
    expect(unknownType).toThrow();
  });

  it('parseEvent accepts a valid event from untrusted input and drops unknown payload fields', () => {
    const result = parseEvent(valid({ actor: 'u1', payload: { sessionId: 's1', author: 'u1', bytes: 0, changed: [], extra: 'x' } }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const event: VezaEvent = result.event;
    expect(event.type).toBe('session.updated');
    expect(event.payload).toEqual({ sessionId: 's1', author: 'u1', bytes: 0, changed: [] });
  });

  it('checkEvent passes an event createEvent built, frozen, and checks anything else like parseEvent', () => {
    const built = createEvent('session.updated', { tenantId: 'acme', actor: 'u1', payload: { sessionId: 's1', author: 'u1', bytes: 1, changed: ['notes'] } });
    expect(checkEvent(built)).toEqual({ ok: true, event: built });
    expect(Object.isFrozen(built) && Object.isFrozen(built.payload)).toBe(true);
    expect(() => {
      (built as { tenantId: string }).tenantId = 'not a tenant!';
    }).toThrow(TypeError);
    // A copy is not the checked object: it is validated again.
    const copy = { ...built, tenantId: 'not a tenant!' };
    const result = checkEvent(copy);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(/tenantId/);
    expect(checkEvent(valid()).ok).toBe(true);
    expect(checkEvent(null).ok).toBe(false);
  });

  it('parseEvent accepts times with an offset', () => {
    expect(parseEvent(valid({ at: '2024-05-01T14:00:00+02:00' })).ok).toBe(true);
  });

  it('parseEvent rejects unknown types', () => {
    expect(errorOf(valid({ type: 'track.disliked' }))).toMatch(/^type: /);
    expect(errorOf(valid({ type: '' }))).toMatch(/^type: /);
    expect(errorOf(valid({ type: undefined }))).toMatch(/^type: /);
    expect(errorOf(valid({ type: 'toString' }))).toMatch(/^type: /);
  });

  it('parseEvent rejects bad tenant ids', () => {
    for (const tenantId of ['', 'Acme', '-acme', 'acme_corp', 'a'.repeat(64), 'acme/../x', 42, null]) {
      expect(errorOf(valid({ tenantId })), String(tenantId)).toMatch(/^tenantId: /);
    }
    expect(parseEvent(valid({ tenantId: 'a'.repeat(63) })).ok).toBe(true);
  });

  it('parseEvent rejects bad envelopes: id, time, actor, non-objects', () => {
    expect(errorOf(valid({ id: '' }))).toMatch(/^id: /);
    expect(errorOf(valid({ id: 'x'.repeat(101) }))).toMatch(/^id: /);
    expect(errorOf(valid({ at: 'yesterday' }))).toMatch(/^at: /);
    expect(errorOf(valid({ at: 1714564800000 }))).toMatch(/^at: /);
    expect(errorOf(valid({ actor: '' }))).toMatch(/^actor: /);
    for (const input of [null, undefined, 'event', 42, []]) expect(parseEvent(input).ok, String(input)).toBe(false);
  });

  it('parseEvent rejects bad payloads with a message naming the field', () => {
    expect(errorOf(valid({ payload: { author: 'u1', bytes: 1, changed: [] } }))).toMatch(/payload\.sessionId: /);
    expect(errorOf(valid({ payload: { sessionId: 's1', author: 'u1', bytes: -1, changed: [] } }))).toMatch(/payload\.bytes: /);
    expect(errorOf(valid({ payload: { sessionId: 's1', author: 'u1', bytes: 1.5, changed: [] } }))).toMatch(/payload\.bytes: /);
    expect(errorOf(valid({ payload: { sessionId: 's1', author: 'u1', bytes: 1, changed: 'tempo' } }))).toMatch(/payload\.changed: /);
    expect(errorOf(valid({ payload: { sessionId: 's1', author: 'u1', bytes: 1, changed: ['ok', 7] } }))).toMatch(/payload\.changed\.1: /);
    expect(errorOf(valid({ payload: null }))).toMatch(/^payload: /);
    expect(errorOf(valid({ type: 'tip.sent', payload: { roomId: 'r', fromUserId: 'a', toUserId: 'b', amount: 0, currency: 'EUR' } }))).toMatch(
      /payload\.amount: /,
    );
    // Several problems are all reported.
    const both = errorOf(valid({ type: 'stream.started', payload: {} }));
    expect(both).toMatch(/payload\.roomId: /);
    expect(both).toMatch(/payload\.streamerId: /);
  });
});
