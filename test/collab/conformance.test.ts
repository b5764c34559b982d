import { startTestServer } from '../helpers/server.js';
import { connectClient } from '../helpers/yjs.js';
import { runCollabConformance } from './conformance.js';

runCollabConformance(
  async () => {
    // Limits that protect a public server would get in the way of 50 clients from one address
    // reconnecting at once; everything else keeps its default.
    const server = await startTestServer({
      'ws-messages-per-second': '0',
      'rate-limit-connections-per-minute': '0',
      'max-connections-per-ip': '0',
    });
    let users = 0;
    return {
      connect: async (docId, role, doc) => {
        const token = await server.veza.auth.sign({ sub: `user-${++users}`, docs: { [docId]: role } });
        return connectClient(server.url, docId, token, doc ? { doc } : {});
      },
      teardown: () => server.stop(),
    };
  },
  { name: 'veza', supportsReadOnly: true },
);
