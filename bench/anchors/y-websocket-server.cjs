// Anchor: y-websocket 1.5.4's own connection handler on a plain `ws` server, without persistence, as
// its bin/server.js runs it. Usage: node bench/anchors/y-websocket-server.cjs PORT
/* global require -- CommonJS, because y-websocket 1.5.4 ships its server utilities as CommonJS */
/* eslint-disable @typescript-eslint/no-require-imports */
const http = require('node:http');
const { WebSocketServer } = require('ws');
const { setupWSConnection } = require('y-websocket/bin/utils');

const port = Number(process.argv[2] ?? process.env.PORT ?? 1234);
const host = process.env.HOST ?? '127.0.0.1';

const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain' });
  response.end('okay');
});
const wss = new WebSocketServer({ noServer: true });
wss.on('connection', setupWSConnection);
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});
server.listen(port, host, () => console.log(`y-websocket 1.5.4 listening on ${host}:${port}`));
process.on('SIGTERM', () => process.exit(0));
