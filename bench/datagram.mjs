// Datagram echo servers in one run, driven by the C load generator (recvmmsg/sendmmsg, so it outpaces every
// server here): a plain C recvfrom/sendto server, a plain node:dgram server, and socktool's CLI
// (`udp-echo`, `unix-server --type dgram`). Prints the median message rate of each, socktool's ratios to C and to
// node:dgram, how many datagrams the load generator had to resend (lost) against socktool, and the 99th percentile
// of the round trip against C and socktool (--inflight 1 is ping-pong).
// usage: node bench/datagram.mjs [--seconds 2] [--rounds 3] [--size 1024] [--inflight 64]
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { arg, cli, compile, measure, median, plain, work } from './lib.mjs';

const load = { seconds: arg('seconds', '2'), size: arg('size', '1024'), inflight: arg('inflight', '64') };
const rounds = Number(arg('rounds', '3'));
const cEcho = compile('c-echo');
const node = [process.execPath, [plain, 'udp']];
const rows = [
  ['udp', [cEcho, ['udp', '0']], [process.execPath, [cli, 'udp-echo', '--port', '0']]],
  ['unixgram', [cEcho, ['unixgram', join(work, 'c.sock')]],
    [process.execPath, [cli, 'unix-server', join(work, 'st.sock'), '--type', 'dgram']]],
];

console.log(`datagram echo, ${load.size}-byte datagrams, ${load.inflight} in flight, ${load.seconds}s x ${rounds} rounds, medians`);
console.log('messages/s    plain C   node:dgram(udp)   socktool   socktool/C   socktool/node   resent(socktool) |' +
  ' p99 us: C  socktool  /C');
const nodeRates = [];
for (const [kind, c, ours] of rows) {
  const cs = [];
  const os = [];
  for (let r = 0; r < rounds; r++) {
    cs.push(await measure({ ...load, kind }, ...c));
    if (kind === 'udp') nodeRates.push((await measure({ ...load, kind }, ...node)).rate);
    os.push(await measure({ ...load, kind }, ...ours));
  }
  const [rc, rn, ro] = [median(cs.map((m) => m.rate)), median(nodeRates), median(os.map((m) => m.rate))];
  const [pc, po] = [median(cs.map((m) => m.p99)), median(os.map((m) => m.p99))];
  const resent = os.reduce((sum, m) => sum + m.resent, 0);
  console.log(`${kind.padEnd(9)} ${String(rc).padStart(10)} ${String(rn).padStart(17)} ${String(ro).padStart(10)}` +
    ` ${(ro / rc).toFixed(2).padStart(12)} ${(ro / rn).toFixed(2).padStart(15)} ${String(resent).padStart(18)} |` +
    ` ${pc.toFixed(0).padStart(9)} ${po.toFixed(0).padStart(9)} ${(po / pc).toFixed(2).padStart(4)}`);
}
rmSync(work, { recursive: true, force: true });
