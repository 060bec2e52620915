// The baselines: the plainest echo servers node:net and node:dgram allow. usage: node plain-servers.mjs tcp|udp|unix [path]
import * as dgram from 'node:dgram';
import { rmSync } from 'node:fs';
import * as net from 'node:net';

const kind = process.argv[2];
if (kind === 'udp') {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  sock.bind(0, '127.0.0.1', () => console.log(`listening on udp://127.0.0.1:${sock.address().port}`));
} else {
  // The load generator leaves with unread echoes, which is a reset: not the baseline's concern.
  const server = net.createServer((c) => c.on('error', () => {}).pipe(c));
  const ready = () => console.log(kind === 'unix' ? `listening on unix://${process.argv[3]}` : `listening on tcp://127.0.0.1:${server.address().port}`);
  if (kind === 'unix') server.listen(process.argv[3], ready);
  if (kind === 'unix') process.on('exit', () => rmSync(process.argv[3], { force: true }));
  else server.listen(0, '127.0.0.1', ready);
}
process.on('SIGTERM', () => process.exit(0));
