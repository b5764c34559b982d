import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { BUNDLE_VERSION, BundleError, decodeBundle, encodeBundle, type SessionBundle } from '../../src/sessions/bundle.js';
import { EXAMPLE_SESSIONS_DIR } from '../../src/sessions/examples.js';
import { StudioDoc } from '../../src/studio/model.js';

/** A two-author session made the way clients make one: each change an update with its author and time. */
function sampleBundle(): SessionBundle {
  const ann = new StudioDoc(new Y.Doc());
  const ben = new StudioDoc(new Y.Doc());
  const updates: SessionBundle['updates'] = [];
  let at = Date.parse('2026-11-01T10:00:00Z');
  const edit = (who: string, studio: StudioDoc, other: StudioDoc, fn: (s: StudioDoc) => void) => {
    const taken: Uint8Array[] = [];
    const take = (u: Uint8Array) => taken.push(u);
    studio.doc.on('update', take);
    fn(studio);
    studio.doc.off('update', take);
    for (const u of taken) {
      updates.push({ at: (at += 1500), author: who, update: u });
      Y.applyUpdate(other.doc, u);
    }
  };
  let track = '';
  let clip = '';
  edit('ann', ann, ben, (s) => s.updateSettings({ title: 'Sample' }));
  edit('ann', ann, ben, (s) => {
    track = s.addTrack({ name: 'Keys' });
    clip = s.addClip(track, { start: 0, length: 1920 });
  });
  edit('ben', ben, ann, (s) => s.addNotes(track, clip, [{ pitch: 60, start: 0, duration: 480, velocity: 90 }]));
  return { id: 'sample', tenantId: 'default', title: 'Sample', createdAt: Date.parse('2026-11-01T10:00:00Z'), exportedAt: at, updates };
}

describe('session bundles', () => {
  it('round-trip: every update with its author and time, the title and the tenant', () => {
    const bundle = sampleBundle();
    const decoded = decodeBundle(encodeBundle(bundle));
    expect(decoded).toEqual(bundle);
    const doc = new Y.Doc();
    for (const u of decoded.updates) Y.applyUpdate(doc, u.update);
    const snapshot = new StudioDoc(doc).snapshot();
    expect(snapshot.settings.title).toBe('Sample');
    expect(snapshot.tracks[0]!.clips[0]!.notes.map((n) => n.pitch)).toEqual([60]);
  });

  it('refuses a truncated file', () => {
    const text = encodeBundle(sampleBundle());
    expect(() => decodeBundle(text.slice(0, Math.floor(text.length * 0.7)))).toThrow(/does not parse.*truncated/);
  });

  it('refuses another version with the one it reads', () => {
    const wire = JSON.parse(encodeBundle(sampleBundle())) as { version: number };
    wire.version = BUNDLE_VERSION + 1;
    expect(() => decodeBundle(JSON.stringify(wire))).toThrow(`session bundle version ${BUNDLE_VERSION + 1} is not supported; this server reads version ${BUNDLE_VERSION}`);
  });

  it('refuses a log that lost an update or was edited (digest)', () => {
    const wire = JSON.parse(encodeBundle(sampleBundle())) as { updates: { author: string }[] };
    const dropped = structuredClone(wire);
    dropped.updates.pop();
    expect(() => decodeBundle(JSON.stringify(dropped))).toThrow(/damaged/);
    const edited = structuredClone(wire);
    edited.updates[0]!.author = 'mallory';
    expect(() => decodeBundle(JSON.stringify(edited))).toThrow(/damaged/);
  });

  it('refuses updates that do not apply, or that depend on changes it does not hold', () => {
    const bundle = sampleBundle();
    const garbage = { ...bundle, updates: [...bundle.updates, { at: bundle.exportedAt + 1, author: 'ben', update: new Uint8Array([1, 5, 200, 7, 7, 7]) }] };
    expect(() => decodeBundle(encodeBundle(garbage))).toThrow(BundleError);
    const withoutFirst = { ...bundle, updates: bundle.updates.slice(1) };
    expect(() => decodeBundle(encodeBundle(withoutFirst))).toThrow(/depend on changes the bundle does not hold/);
  });

  it('refuses wrong fields with their path', () => {
    const wire = JSON.parse(encodeBundle(sampleBundle())) as { session: { tenantId: string; id: string } };
    wire.session.id = 'no spaces allowed';
    expect(() => decodeBundle(JSON.stringify(wire))).toThrow(/session\.id/);
    expect(() => decodeBundle(JSON.stringify({ format: 'something-else' }))).toThrow(/format/);
  });

  it('the shipped example sessions are valid bundles of several authors over minutes', () => {
    for (const name of ['example-city-blues', 'example-chemistry-lab']) {
      const bundle = decodeBundle(readFileSync(`${EXAMPLE_SESSIONS_DIR}/${name}.veza.json`, 'utf8'));
      expect(bundle.id).toBe(name);
      expect(new Set(bundle.updates.map((u) => u.author)).size).toBeGreaterThanOrEqual(3);
      expect(bundle.updates.at(-1)!.at - bundle.updates[0]!.at).toBeGreaterThan(3 * 60_000);
    }
  });
});
