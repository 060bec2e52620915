// What the benchmarks share: building the C programs, starting a server that prints "listening on <address>",
// and driving it with the C load generator while reading the server's CPU time from /proc.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = fileURLToPath(new URL('.', import.meta.url));
export const cli = join(here, '..', 'bin', 'socktool');
export const plain = join(here, 'plain-servers.mjs');
export const work = mkdtempSync(join(tmpdir(), 'stbench-'));

export const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};

/** Compiles bench/<name>.c into the work directory. */
export function compile(name) {
  const out = join(work, name);
  execFileSync('cc', ['-O2', '-o', out, join(here, `${name}.c`)]);
  return out;
}

export const loadgen = compile('loadgen');

/**
 * Spawns a server and resolves with its child once it prints "listening on <address>": the baselines print it on
 * stdout, socktool on stderr (its stdout is peers' data alone). Calls `found` with the line's match.
 */
export function announced(cmd, args, pattern) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = false;
    const look = (chunk, echo) => {
      const m = seen ? null : pattern.exec(String(chunk));
      if (m) {
        seen = true;
        resolve({ child, m });
      } else if (echo) process.stderr.write(chunk);
    };
    child.stdout.on('data', (c) => look(c, false));
    child.stderr.on('data', (c) => look(c, true));
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}`)));
  });
}

async function start(cmd, args) {
  const { child, m } = await announced(cmd, args, /listening on (\w+):(?:\/\/(?:(\d+\.\d+\.\d+\.\d+):(\d+)|(\/\S*))|(@\S+))/);
  return { child, host: m[2] ?? m[4] ?? m[5], port: m[3] ?? '0' };
}

/** utime + stime of a process, in clock ticks (100 per second on Linux). */
export const cpuTicks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

/** Starts a server, runs the load generator against it, stops it: messages/s, datagrams resent, CPU us/msg, p50 and p99 us. */
export async function measure({ kind, size, inflight, seconds }, cmd, args) {
  const s = await start(cmd, args);
  const before = cpuTicks(s.child.pid);
  const [rate, resent, p50, p99] = String(execFileSync(loadgen, [kind, s.host, s.port, size, inflight, seconds])).trim().split(' ').map(Number);
  const cpuUs = ((cpuTicks(s.child.pid) - before) * 10_000) / (rate * Number(seconds));
  s.child.kill('SIGTERM');
  await new Promise((r) => s.child.once('exit', r));
  return { rate, resent, cpuUs, p50, p99 };
}

/**
 * A TCP port nothing listens on now, for programs that take no port 0 (socat's TCP-LISTEN, node-ipc). A bench, not a
 * test: the moment between closing it and the program binding it is harmless here.
 */
export const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
