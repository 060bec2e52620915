// The JS socktool adds per datagram, without syscalls: serve(echo)'s dispatch path over a fake port whose send
// completes on the next tick (as dgram's does), against a bare event callback doing the same send.
// Prints nanoseconds per datagram (median of rounds). usage: node bench/dispatch.mjs [count]
import { DatagramSocketImpl } from '../dist/core/datagram.js';
import { DatagramServer } from '../dist/core/serve.js';
import { echo } from '../dist/index.js';

const count = Number(process.argv[2] ?? 200_000);
const local = { network: 'udp', host: '127.0.0.1', port: 9 };
const data = Buffer.alloc(1024);

function fakePort() {
  const port = { sent: 0, done: null };
  port.send = (_d, _to, cb) => {
    port.sent++;
    process.nextTick(cb, null);
    if (port.sent === count) setImmediate(port.done);
  };
  port.connect = async () => {};
  port.close = (cb) => cb();
  return port;
}

async function socktoolRound() {
  const port = fakePort();
  const sock = new DatagramSocketImpl('udp', local, port);
  new DatagramServer(sock, echo, (e) => { throw e; });
  const finished = new Promise((r) => (port.done = r));
  const t = process.hrtime.bigint();
  // Deliver in batches, as the event loop does, so pending work stays realistic.
  for (let i = 0; i < count; i += 64) {
    for (let j = 0; j < 64; j++) sock.deliver(data, { network: 'udp', host: '127.0.0.1', port: 1000 + j });
    await new Promise(setImmediate);
  }
  await finished;
  return Number(process.hrtime.bigint() - t) / count;
}

async function plainRound() {
  const port = fakePort();
  const onMessage = (msg, rinfo) => port.send(msg, rinfo, () => {});
  const finished = new Promise((r) => (port.done = r));
  const t = process.hrtime.bigint();
  for (let i = 0; i < count; i += 64) {
    for (let j = 0; j < 64; j++) onMessage(data, { address: '127.0.0.1', port: 1000 + j });
    await new Promise(setImmediate);
  }
  await finished;
  return Number(process.hrtime.bigint() - t) / count;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p = [];
const s = [];
for (let r = 0; r < 7; r++) {
  p.push(await plainRound());
  s.push(await socktoolRound());
}
console.log(`dispatch per datagram: bare callback ${median(p).toFixed(0)} ns, socktool serve(echo) ${median(s).toFixed(0)} ns, added ${(median(s) - median(p)).toFixed(0)} ns`);
