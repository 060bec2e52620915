// The baseline relay: the plainest node:net pipe, each client piped to a connection of its own to the target.
// usage: node pipe-relay.mjs TARGET_PORT   (prints "listening on tcp://127.0.0.1:PORT")
import * as net from 'node:net';

const target = Number(process.argv[2]);
// allowHalfOpen: the sender's EOF goes on to the target, whose answer still comes back.
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const upstream = net.connect({ port: target, host: '127.0.0.1', allowHalfOpen: true });
  const cut = () => { client.destroy(); upstream.destroy(); };
  client.on('error', cut);
  upstream.on('error', cut);
  client.pipe(upstream);
  upstream.pipe(client);
});
server.listen(0, '127.0.0.1', () => console.log(`listening on tcp://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
