// Anchor: @hocuspocus/server 3.4.4 with no extensions or hooks (so an empty token is accepted).
// Usage: node bench/anchors/hocuspocus-server.mjs PORT
import { Server } from '@hocuspocus/server';

const port = Number(process.argv[2] ?? process.env.PORT ?? 1234);
const address = process.env.HOST ?? '127.0.0.1';

const server = new Server({ port, address, quiet: true });
await server.listen();
console.log(`hocuspocus 3.4.4 listening on ${address}:${port}`);
