// Echo servers, socktool's CLI against the plainest node:net / node:dgram servers, measured in one run by a C
// load generator. Prints message rates and the server's CPU time per message, with socktool/baseline ratios
// (medians over rounds, servers alternating). On a 2-core machine the client and server share the cores, so
// CPU per message is the steadier figure of what the adapter layer costs.
// usage: node bench/echo.mjs [--seconds 2] [--rounds 3] [--size 1024] [--inflight 64]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const seconds = arg('seconds', '2');
const rounds = Number(arg('rounds', '3'));
const size = arg('size', '1024');
const inflight = arg('inflight', '64');

const work = mkdtempSync(join(tmpdir(), 'stbench-'));
const loadgen = join(work, 'loadgen');
execFileSync('cc', ['-O2', '-o', loadgen, join(here, 'loadgen.c')]);

function start(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.once('data', (line) => {
      const m = /listening on (\w+):\/\/(?:(\d+\.\d+\.\d+\.\d+):(\d+)|(\/.*))/.exec(String(line));
      if (!m) return reject(new Error(`bad first line: ${line}`));
      resolve({ child, host: m[2] ?? m[4], port: m[3] ?? '0' });
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}`)));
  });
}

/** utime + stime of a process, in clock ticks (100 per second on Linux). */
const cpuTicks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

async function measure(kind, cmd, args) {
  const s = await start(cmd, args);
  const before = cpuTicks(s.child.pid);
  const rate = Number(String(execFileSync(loadgen, [kind, s.host, s.port, size, inflight, seconds])).trim());
  const cpuUs = ((cpuTicks(s.child.pid) - before) * 10_000) / (rate * Number(seconds));
  s.child.kill('SIGTERM');
  await new Promise((r) => s.child.once('exit', r));
  return { rate, cpuUs };
}

const cli = join(here, '..', 'bin', 'socktool');
const plain = join(here, 'plain-servers.mjs');
const sock = (n) => join(work, `${n}.sock`);
const pairs = [
  ['udp', ['udp', process.execPath, [plain, 'udp']], ['udp', process.execPath, [cli, 'udp-echo', '--port', '0']]],
  ['tcp', ['tcp', process.execPath, [plain, 'tcp']], ['tcp', process.execPath, [cli, 'tcp-echo', '--port', '0']]],
  ['unix', ['unix', process.execPath, [plain, 'unix', sock('plain')]], ['unix', process.execPath, [cli, 'unix-server', sock('st')]]],
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`echo, ${size}-byte messages, ${inflight} in flight, ${seconds}s x ${rounds} rounds, medians`);
console.log('       messages/s: plain  socktool  ratio  | server CPU us/msg: plain  socktool  ratio');
for (const [name, base, ours] of pairs) {
  const b = [];
  const o = [];
  for (let r = 0; r < rounds; r++) {
    b.push(await measure(...base));
    o.push(await measure(...ours));
  }
  const [rb, ro] = [median(b.map((x) => x.rate)), median(o.map((x) => x.rate))];
  const [cb, co] = [median(b.map((x) => x.cpuUs)), median(o.map((x) => x.cpuUs))];
  console.log(`${name.padEnd(5)} ${String(rb).padStart(16)} ${String(ro).padStart(9)} ${(ro / rb).toFixed(2).padStart(6)}  |` +
    ` ${cb.toFixed(2).padStart(23)} ${co.toFixed(2).padStart(9)} ${(co / cb).toFixed(2).padStart(6)}`);
}
rmSync(work, { recursive: true, force: true });
