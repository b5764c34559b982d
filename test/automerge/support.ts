import { cbor, Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import WebSocket from 'ws';
import type { TestServer } from '../helpers/server.js';

/** Connection limits off: these tests open many sockets from one address and user. */
export const UNLIMITED = { 'rate-limit-connections-per-minute': '0', 'ws-messages-per-second': '0', 'max-connections-per-ip': '0' };

export function automergeUrl(server: TestServer, token?: string): string {
  return `${server.url.replace('http', 'ws')}/automerge${token === undefined ? '' : `?token=${token}`}`;
}

/** A Node automerge-repo client, as an application would build it, on the reference WebSocket adapter. */
export function clientRepo(url: string): Repo {
  return new Repo({ network: [new WebSocketClientAdapter(url, 200)] });
}

/** A bare socket, for frames no real client sends. */
export function rawSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

export function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

export function nextMessage(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve) => ws.once('message', (data: Buffer) => resolve(cbor.decode(data))));
}

/** Joins as `peerId` and resolves with the server's peer id. */
export async function join(ws: WebSocket, peerId: string): Promise<string> {
  const answer = nextMessage(ws);
  ws.send(cbor.encode({ type: 'join', senderId: peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] }));
  const peer = await answer;
  if (peer.type !== 'peer') throw new Error(`expected a peer message, got ${JSON.stringify(peer)}`);
  return String(peer.senderId);
}
