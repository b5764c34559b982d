// A stand-in for the server's event API: answers every request 202 and does nothing else. With
// `--side-events-sink` the side-events process sends its load here instead of to the server, so a
// run measures what sending that load costs the machine (two cores shared by the generator, the
// server and the sender) without the server doing any of the side modules' work.
// Usage: node bench/lib/side-events-sink.ts; prints the port it listens on.
import http from 'node:http';

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
