// Does `socktool bench` measure the server and not itself? Against the plain C echo server (bench/c-echo.c) on
// udp, unixgram, tcp and unix, in one run: the rate bench/loadgen.c reaches, then the rate `socktool bench
// --mode flood` reaches, with the same message size and messages in flight; the ratio should be at least 0.8.
// usage: node bench/bench-accuracy.mjs [--seconds 2] [--rounds 3] [--size 1024] [--inflight 64]
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { announced, arg, cli, compile, loadgen, median, work } from './lib.mjs';

const load = { seconds: arg('seconds', '2'), size: arg('size', '1024'), inflight: arg('inflight', '64') };
const rounds = Number(arg('rounds', '3'));
const cEcho = compile('c-echo');

const rows = [
  ['udp', ['udp', '0']],
  ['unixgram', ['unixgram', join(work, 'g.sock')]],
  ['tcp', ['tcp', '0']],
  ['unix', ['unix', join(work, 's.sock')]],
];

console.log(`echo load against the plain C echo server, ${load.size}-byte messages, ${load.inflight} in flight, ` +
  `${load.seconds}s x ${rounds} rounds, medians (messages/s)`);
console.log('network       loadgen.c   socktool bench   bench/loadgen');
for (const [network, args] of rows) {
  const { child, m } = await announced(cEcho, args, /listening on (\S+)/);
  const address = m[1];
  const [host, port] = network === 'udp' || network === 'tcp' ? address.split('//')[1].split(':') : [args[1], '0'];
  const c = [];
  const ours = [];
  for (let r = 0; r < rounds; r++) {
    c.push(Number(String(execFileSync(loadgen, [network, host, port, load.size, load.inflight, load.seconds])).split(' ')[0]));
    const summary = JSON.parse(String(execFileSync(process.execPath, [cli, 'bench', address, '--mode', 'flood',
      '--size', load.size, '--window', load.inflight, '--duration', load.seconds, '--json'])));
    ours.push(Math.round(summary.rate));
  }
  child.kill();
  const [rc, ro] = [median(c), median(ours)];
  console.log(`${network.padEnd(9)} ${String(rc).padStart(13)} ${String(ro).padStart(16)} ${(ro / rc).toFixed(2).padStart(15)}`);
}
