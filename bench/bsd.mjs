// Round trips through socktool/bsd against plain node:net, in one run: one client sends 64 bytes and waits for
// the echo, N times, over TCP and over a unix socket. The echo server is the same plain node:net server for
// both, so the figure is the cost of the facade's calls (sendall + recv) against a bare write + 'data'.
// usage: node bench/bsd.mjs [--trips 20000] [--rounds 3]
import net from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AF_INET, AF_UNIX, SOCK_STREAM, socket } from '../dist/bsd/index.js';
import { arg, median, work } from './lib.mjs';

const trips = Number(arg('trips', '20000'));
const rounds = Number(arg('rounds', '3'));
const payload = Buffer.alloc(64, 'x');

const server = (where) => new Promise((resolve) => {
  const s = net.createServer((c) => c.pipe(c)).listen(where, () => resolve(s));
});

async function plain(where) {
  const c = net.connect(where);
  c.setNoDelay?.(true);
  await new Promise((r) => c.once('connect', r));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < trips; i++) {
    const got = new Promise((r) => c.once('data', r));
    c.write(payload);
    await got;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  c.destroy();
  return trips / s;
}

async function bsd(family, address) {
  const s = socket(family, SOCK_STREAM);
  await s.connect(address);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < trips; i++) {
    await s.sendall(payload);
    await s.recv(1024);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await s.close();
  return trips / secs;
}

const tcp = await server({ host: '127.0.0.1', port: 0 });
const path = join(work, 'b.sock');
const unix = await server({ path });
const port = tcp.address().port;
const rows = [
  ['tcp', () => plain({ host: '127.0.0.1', port }), () => bsd(AF_INET, ['127.0.0.1', port])],
  ['unix', () => plain({ path }), () => bsd(AF_UNIX, path)],
];
console.log(`round trips/s, 64 bytes, ${trips} trips x ${rounds} rounds, medians`);
console.log('       node:net   socktool/bsd   ratio');
for (const [name, base, ours] of rows) {
  const b = [];
  const o = [];
  for (let r = 0; r < rounds; r++) {
    b.push(await base());
    o.push(await ours());
  }
  const [mb, mo] = [median(b), median(o)];
  console.log(`${name.padEnd(5)} ${mb.toFixed(0).padStart(10)} ${mo.toFixed(0).padStart(14)} ${(mo / mb).toFixed(2).padStart(7)}`);
}
tcp.close();
unix.close();
rmSync(work, { recursive: true, force: true });
