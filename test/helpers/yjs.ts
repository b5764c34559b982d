import WebSocket from 'ws';
import * as Y from 'yjs';
// y-websocket 1.5.4 ships CommonJS; its client is the one browsers use.
import { WebsocketProvider } from 'y-websocket';
import { waitFor } from './wait.js';

export interface Client {
  doc: Y.Doc;
  provider: WebsocketProvider;
  destroy(): void;
}

/** An unmodified y-websocket client connected to our server. */
export async function connectClient(baseUrl: string, docId: string, token: string, options: { doc?: Y.Doc; waitSync?: boolean } = {}): Promise<Client> {
  const doc = options.doc ?? new Y.Doc();
  const provider = new WebsocketProvider(`${baseUrl.replace('http', 'ws')}/collab`, docId, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  if (options.waitSync !== false) await waitFor(() => provider.synced, `${docId} to sync`);
  return {
    doc,
    provider,
    destroy: () => {
      provider.destroy();
      doc.destroy();
    },
  };
}

/** A crafted one-item update on the root type `scratch` (key `x0`) whose JSON content has no entries: an item of length 0. */
export const EMPTY_ITEM_UPDATE = Uint8Array.from(Buffer.from('0101d88deef30900220107736372617463680278300000', 'hex'));
