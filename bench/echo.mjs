// Stream echo servers, socktool's CLI against the plainest node:net servers and a plain C server (a thread per
// connection, blocking read and write: bench/c-echo.c), measured in one run by the C load generator. Prints
// message rates and the server's CPU time per message, with socktool's ratios (medians of each round's own,
// servers alternating). On a 2-core machine the client and server share the cores, so CPU per message is the
// steadier figure of what the adapter layer costs; and the 99th percentile of the round trip. --inflight 1 is
// ping-pong. (Datagrams: bench/datagram.mjs.)
// usage: node bench/echo.mjs [--seconds 2] [--rounds 3] [--size 1024] [--inflight 64]
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { arg, cli, compile, measure, median, plain, work } from './lib.mjs';

const load = { seconds: arg('seconds', '2'), size: arg('size', '1024'), inflight: arg('inflight', '64') };
const rounds = Number(arg('rounds', '3'));
const sock = (n) => join(work, `${n}.sock`);
const cEcho = compile('c-echo');
const rows = [
  ['tcp', [cEcho, ['tcp', '0']], [process.execPath, [plain, 'tcp']], [process.execPath, [cli, 'tcp-echo', '--port', '0']]],
  ['unix', [cEcho, ['unix', sock('c')]], [process.execPath, [plain, 'unix', sock('plain')]], [process.execPath, [cli, 'unix-server', sock('st')]]],
];

console.log(`stream echo, ${load.size}-byte messages, ${load.inflight} in flight, ${load.seconds}s x ${rounds} rounds, medians`);
console.log('      messages/s:     C   node:net  socktool  /C    /node  | server CPU us/msg:    C  node:net  socktool' +
  ' | p99 us:  C  node:net  socktool  /C');
for (const [kind, ...servers] of rows) {
  const runs = [[], [], []];
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < servers.length; k++) runs[k].push(await measure({ ...load, kind }, ...servers[k]));
  }
  const rate = runs.map((xs) => median(xs.map((x) => x.rate)));
  const cpu = runs.map((xs) => median(xs.map((x) => x.cpuUs)));
  const p99 = runs.map((xs) => median(xs.map((x) => x.p99)));
  const ratio = (k) => median(runs[2].map((x, i) => x.rate / runs[k][i].rate)).toFixed(2);
  console.log(`${kind.padEnd(5)} ${rate.map((x) => String(x).padStart(9)).join(' ')} ${ratio(0).padStart(5)} ${ratio(1).padStart(5)}  |` +
    ` ${cpu.map((x) => x.toFixed(2).padStart(9)).join(' ')} | ${p99.map((x) => x.toFixed(0).padStart(8)).join(' ')}` +
    ` ${(p99[2] / p99[0]).toFixed(2).padStart(4)}`);
}
rmSync(work, { recursive: true, force: true });
