// Stream echo servers, socktool's CLI against the plainest node:net servers, measured in one run by the C load
// generator. Prints message rates and the server's CPU time per message, with socktool/baseline ratios
// (medians over rounds, servers alternating). On a 2-core machine the client and server share the cores, so
// CPU per message is the steadier figure of what the adapter layer costs. (Datagrams: bench/datagram.mjs.)
// usage: node bench/echo.mjs [--seconds 2] [--rounds 3] [--size 1024] [--inflight 64]
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { arg, cli, measure, median, plain, work } from './lib.mjs';

const load = { seconds: arg('seconds', '2'), size: arg('size', '1024'), inflight: arg('inflight', '64') };
const rounds = Number(arg('rounds', '3'));
const sock = (n) => join(work, `${n}.sock`);
const pairs = [
  ['tcp', [process.execPath, [plain, 'tcp']], [process.execPath, [cli, 'tcp-echo', '--port', '0']]],
  ['unix', [process.execPath, [plain, 'unix', sock('plain')]], [process.execPath, [cli, 'unix-server', sock('st')]]],
];

console.log(`stream echo, ${load.size}-byte messages, ${load.inflight} in flight, ${load.seconds}s x ${rounds} rounds, medians`);
console.log('       messages/s: plain  socktool  ratio  | server CPU us/msg: plain  socktool  ratio');
for (const [kind, base, ours] of pairs) {
  const b = [];
  const o = [];
  for (let r = 0; r < rounds; r++) {
    b.push(await measure({ ...load, kind }, ...base));
    o.push(await measure({ ...load, kind }, ...ours));
  }
  const [rb, ro] = [median(b.map((x) => x.rate)), median(o.map((x) => x.rate))];
  const [cb, co] = [median(b.map((x) => x.cpuUs)), median(o.map((x) => x.cpuUs))];
  console.log(`${kind.padEnd(5)} ${String(rb).padStart(16)} ${String(ro).padStart(9)} ${(ro / rb).toFixed(2).padStart(6)}  |` +
    ` ${cb.toFixed(2).padStart(23)} ${co.toFixed(2).padStart(9)} ${(co / cb).toFixed(2).padStart(6)}`);
}
rmSync(work, { recursive: true, force: true });
