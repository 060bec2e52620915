import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, type TestContext } from 'vitest';
import { hasIPv6 } from '../src/core/resolve.js';
import { consts, nameOf, native } from '../src/native/index.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'socktool');
export const PEERS = join(ROOT, 'test', 'peers');

const dirs: string[] = [];
/** A short, fresh directory under os.tmpdir() for socket files, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stt-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory anyone may pass through, so that only a socket file's own rights decide who connects. */
export function openDir(): string {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  return dir;
}

/** A fresh socket path (its file does not exist yet). */
export const sockPath = (name = 's.sock'): string => join(tempDir(), name);

/** Sockets holding ports (closedPort, portRange), released after each test. */
const held: number[] = [];
afterEach(() => {
  for (const fd of held.splice(0)) native.close(fd);
});

/**
 * A port on `host` where nothing answers, held for the rest of the test by a socket bound there with SO_REUSEADDR
 * that never takes anything: on tcp it never listens (connections are refused), on udp it is connected to port 9,
 * so it matches no other sender (their datagrams get a port unreachable: ECONNREFUSED). No bind to port 0 anywhere
 * on the machine is given a held port, so it stays closed — unless the test itself starts a server there that
 * sets SO_REUSEADDR too (socktool's tcp listeners, `reuseAddr` on udp, systemd-socket-activate, nc -l), which is
 * how a test gets a fixed port for a program that takes no port 0, or for a server it restarts.
 */
export function closedPort(kind: 'tcp' | 'udp' = 'tcp', host = '127.0.0.1'): number {
  return closedSocket(kind, host).port;
}

function closedSocket(kind: 'tcp' | 'udp', host: string): { fd: number; port: number } {
  const fd = holdPort(kind, host, 0);
  if (kind === 'udp') native.connect(fd, native.inetSockaddr(host, 9, host.includes(':')));
  return { fd, port: (nameOf(fd, kind) as { port: number }).port };
}

/** A socket bound to `host:port` with SO_REUSEADDR (see {@link closedPort}), closed after the test; throws EADDRINUSE. */
function holdPort(kind: 'tcp' | 'udp', host: string, port: number): number {
  const v6 = host.includes(':');
  const fd = native.socket(v6 ? consts.AF_INET6 : consts.AF_INET, kind === 'tcp' ? consts.SOCK_STREAM : consts.SOCK_DGRAM);
  held.push(fd);
  native.setsockopt(fd, consts.SOL_SOCKET, consts.SO_REUSEADDR, 1);
  native.bind(fd, native.inetSockaddr(host, port, v6));
  return fd;
}

/**
 * `count` consecutive tcp ports on 127.0.0.1, all held closed (as {@link closedPort}) but the one at index `open`,
 * which listens: what a port-range scan can be pointed at without assuming anything of the machine's ports.
 */
export function portRange(count: number, open: number): number {
  for (;;) {
    const first = closedSocket('tcp', '127.0.0.1');
    if (first.port + count > 65536) continue;
    try {
      const fds = [first.fd];
      for (let i = 1; i < count; i++) fds.push(holdPort('tcp', '127.0.0.1', first.port + i));
      native.listen(fds[open]!, 8);
      return first.port;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      // A neighbour is taken: what was bound stays held until the test ends, and another first port is tried.
    }
  }
}

let names = 0;
/** A fresh Linux abstract socket name, unique to this process and call. */
export const abstractName = (): string => `stt-${process.pid}-${++names}-${Math.random().toString(36).slice(2, 8)}`;

/**
 * Whether a platform feature exists here. A row needing a missing feature skips, unless SOCKTOOL_REQUIRE_ALL
 * is set (as .ci/run does), where the row runs and fails loudly instead.
 */
export function platformHas(feature: 'ipv6'): boolean {
  if (process.env.SOCKTOOL_REQUIRE_ALL) return true;
  return feature === 'ipv6' ? hasIPv6() : false;
}

/** The programs nobody here wrote that tests drive, each with the Debian package that provides it. */
const PROGRAMS = {
  socat: 'socat',
  nc: 'netcat-openbsd',
  openssl: 'openssl',
  'aarch64-linux-gnu-gcc': 'gcc-aarch64-linux-gnu',
  'musl-gcc': 'musl-tools',
  'qemu-aarch64-static': 'qemu-user-static',
  'systemd-notify': 'systemd',
  'systemd-socket-activate': 'systemd',
  setpriv: 'util-linux',
  prlimit: 'util-linux',
  unshare: 'util-linux',
  logger: 'bsdutils',
  script: 'bsdutils',
  jq: 'jq',
  nm: 'binutils',
  tshark: 'tshark',
  curl: 'curl',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  sockperf: 'sockperf',
  chromium: 'chromium',
} as const;
export type Program = keyof typeof PROGRAMS;

const present = new Map<Program, boolean>();
function has(program: Program): boolean {
  let yes = present.get(program);
  if (yes === undefined) {
    // The tests use OpenBSD netcat's -N, which other netcats lack: another nc on the PATH is not enough.
    yes = program === 'nc'
      ? /OpenBSD/.test(spawnSync('nc', ['-h'], { encoding: 'utf8' }).stderr ?? '')
      : spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program]).status === 0;
    present.set(program, yes);
  }
  return yes;
}

/**
 * Skips the running test when a program it drives is missing here, with a one-line reason naming the program
 * and its Debian package (the run's summary counts them). With SOCKTOOL_REQUIRE_ALL (as .ci/run sets) a
 * missing program fails the test instead.
 */
export function needs(ctx: TestContext, ...programs: Program[]): void {
  const missing = programs.filter((p) => !has(p));
  if (missing.length > 0) skipFor(ctx, `needs ${missing.map((p) => `${p} (Debian package ${PROGRAMS[p]})`).join(' and ')}`);
}

/** Skips the running test for `reason`, or fails it under SOCKTOOL_REQUIRE_ALL. */
function skipFor(ctx: TestContext, reason: string): void {
  if (process.env.SOCKTOOL_REQUIRE_ALL) throw new Error(`${reason}, and SOCKTOOL_REQUIRE_ALL is set`);
  ctx.skip(reason);
}

let netns: boolean | undefined;
/** Skips the running test (see {@link needs}) where this machine cannot make a network namespace of its own. */
export function needsNetns(ctx: TestContext): void {
  netns ??= spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up']).status === 0;
  if (!netns) skipFor(ctx, 'needs network namespaces: unshare -n (util-linux) and ip (iproute2), as root');
}

/** Tests that act as another user (setpriv to nobody) or give files away (chown) need root and setpriv. */
export function needsRoot(ctx: TestContext): void {
  needs(ctx, 'setpriv');
  if (process.getuid?.() !== 0) skipFor(ctx, 'needs root: it runs clients as nobody with setpriv (util-linux) and chowns files');
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout as the bytes it was, for binary checks. */
  bytes: Buffer;
  stderr: string;
}

/** Runs a program to its end, with optional stdin (and environment added to this one's). */
export function run(cmd: string, args: string[], input?: string | Buffer, timeoutMs = 15_000,
  env?: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'pipe', env: env && { ...process.env, ...env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      resolve({ code, signal, stdout: bytes.toString(), bytes, stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on('error', () => {}); // a program that exits without reading its input (EPIPE)
    child.stdin.end(input);
  });
}

/** Runs the built CLI to its end. */
export const socktool = (args: string[], input?: string): Promise<Ran> => run(process.execPath, [BIN, ...args], input);

export interface Running {
  child: ChildProcessWithoutNullStreams;
  /** The address the server printed on its first line. */
  address: string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

/** Starts a socktool server and waits for its `listening on <address>` line. */
export function startServer(args: string[]): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'pipe' });
    running.add(child);
    let out = '';
    let err = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on('exit', (code, signal) => {
        running.delete(child);
        done({ code, signal });
      }));
    child.stdout.on('data', (c: Buffer) => (out += c));
    // The listening line is the first on stderr (stdout carries peers' data alone); stderr() is what follows it.
    let first = true;
    child.stderr.on('data', (c: Buffer) => {
      err += c;
      const nl = err.indexOf('\n');
      if (!first || nl < 0) return;
      first = false;
      const m = /^listening on (\S+)$/.exec(err.slice(0, nl));
      if (!m) return reject(new Error(`unexpected first line: ${err}`));
      err = err.slice(nl + 1);
      resolve({
        child,
        address: m[1]!,
        stderr: () => err,
        stop: (signal = 'SIGTERM') => {
          child.kill(signal);
          return exited;
        },
      });
    });
    exited.then(({ code }) => reject(new Error(`socktool exited (${code}) before listening: ${err}`)));
  });
}

/** The port of a printed inet address. */
export const portOf = (address: string): number => Number(/:(\d+)$/.exec(address)![1]);

/** Starts a peer program whose first stdout line is `listening`; resolves then, with the promise of its whole run. */
export function startPeer(cmd: string, args: string[]): Promise<{ finished: Promise<Ran> }> {
  return new Promise((ready, fail) => {
    let seen = false;
    const child = spawn(cmd, args, { stdio: 'pipe' });
    running.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => err.push(Buffer.from(e.message))); // could not start: 'close' follows
    const finished = new Promise<Ran>((resolve) =>
      child.on('close', (code, signal) => {
        running.delete(child);
        const bytes = Buffer.concat(out);
        const ran = { code, signal, stdout: bytes.toString(), bytes, stderr: Buffer.concat(err).toString() };
        if (!seen) fail(new Error(`${cmd} ended before listening: ${ran.stderr}`));
        resolve(ran);
      }));
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      if (!seen && Buffer.concat(out).toString().startsWith('listening\n')) {
        seen = true;
        ready({ finished });
      }
    });
  });
}

/** A running program to talk to: its output so far, and a wait for text to appear in it. */
export interface Live {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  /** stdout as the bytes it was. */
  stdoutBytes(): Buffer;
  stderr(): string;
  /** Resolves once `pattern` matches stdout (or stderr, with `on`); rejects after `ms`, with what was seen. */
  waitFor(pattern: RegExp, ms?: number, on?: 'stdout' | 'stderr'): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns a program with pipes, for tests that talk to it while it runs. */
export function live(cmd: string, args: string[]): Live {
  const child = spawn(cmd, args, { stdio: 'pipe' });
  running.add(child);
  let out = '';
  let err = '';
  const watchers = new Set<() => void>();
  const changed = () => watchers.forEach((w) => w());
  const outBytes: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => ((out += c), outBytes.push(c), changed()));
  child.stderr.on('data', (c: Buffer) => ((err += c), changed()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      done({ code, signal });
    });
    // A program that could not start (ENOENT) ends here too, with its reason in stderr, never as an unhandled error.
    child.on('error', (e) => {
      err += `${e.message}\n`;
      running.delete(child);
      done({ code: null, signal: null });
    });
  });
  return {
    child,
    stdout: () => out,
    stdoutBytes: () => Buffer.concat(outBytes),
    stderr: () => err,
    exited,
    waitFor: (pattern, ms = 8000, on = 'stdout') => new Promise((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(on === 'stdout' ? out : err);
        if (!m) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve(m);
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`no ${pattern} in stdout ${JSON.stringify(out)}; stderr ${JSON.stringify(err)}`));
      }, ms);
      watchers.add(check);
      check();
    }),
  };
}

/** Runs the built CLI, to talk to while it runs. */
export const liveCli = (args: string[]): Live => live(process.execPath, [BIN, ...args]);

/** Starts a peer whose first line is `listening <where>` (a port or a path); resolves with it. */
export async function startListening(cmd: string, args: string[]): Promise<Live & { where: string }> {
  const p = live(cmd, args);
  const m = await Promise.race([
    p.waitFor(/^listening (\S+)\n/),
    p.exited.then(() => { throw new Error(`${cmd} ${args.join(' ')} exited: ${p.stderr()}`); }),
  ]);
  return { ...p, where: m[1]! };
}

/**
 * Whether process `pid` runs: a zombie does not (a killed grandchild waits as one until whoever inherits it reaps
 * it, and in a container that may be nobody).
 */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A self-signed certificate (default for localhost, 127.0.0.1 and ::1), made with openssl in a temp dir. */
export function makeCert(names = 'DNS:localhost,IP:127.0.0.1,IP:::1'): { cert: string; key: string } {
  const dir = tempDir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', `subjectAltName=${names}`], { stdio: 'ignore' });
  return { cert, key };
}

/** The one-line error contract: exactly one line on stderr, prefixed, no stack trace. Returns the line. */
export function oneLineOf(r: Ran): string {
  const lines = r.stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^socktool: /);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

/** Runs the built CLI to its end, with stdin bytes. */
export const cli = (args: string[], input?: string | Buffer, ms?: number): Promise<Ran> => run(process.execPath, [BIN, ...args], input, ms);

/** A socktool server started, and the address it announced: on stderr, or as the first --json event on stdout. */
export async function cliServer(args: string[]): Promise<Live & { address: string }> {
  const s = liveCli(args);
  const m = args.includes('--json')
    ? await s.waitFor(/^\{"event":"listening".*"address":"([^"]+)"\}\n/)
    : await s.waitFor(/^listening on (\S+)\n/, undefined, 'stderr');
  return { ...s, address: m[1]! };
}

/** What a server wrote to stderr after its listening line. */
export const notices = (s: Live): string => s.stderr().replace(/^listening on \S+\n/, '');

/** SIGTERM, and the exit code. */
export async function stopLive(s: Live): Promise<number | null> {
  s.child.kill('SIGTERM');
  return (await s.exited).code;
}

/**
 * test/peers/access_client.py, as nobody (group nogroup, no other groups; through setpriv) or as this process's
 * user: one outcome line per attempt ("ok <reply>", "closed", "no-reply", "refused <ERRNO>"). Debian's own
 * python3, which nobody can run (a python3 earlier on root's PATH may live in root's home).
 */
export async function accessClient(who: 'nobody' | 'me', kind: string, where: string, message = 'hi', count = 1): Promise<string> {
  const script = who === 'me' ? join(PEERS, 'access_client.py') : readableCopy('access_client.py');
  const client = ['/usr/bin/python3', script, kind, where, message, String(count)];
  const r = who === 'me' ? await run(client[0]!, client.slice(1))
    : await run('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', ...client]);
  return r.stdout.trim();
}

let peersForNobody: string | undefined;

/**
 * A copy of test/peers/`name` that any user can read: the clone may sit where nobody cannot (root's home, a
 * private `mktemp -d`), and a peer run as nobody reads its script from here.
 */
export function readableCopy(name: string): string {
  if (!peersForNobody) {
    peersForNobody = mkdtempSync(join(tmpdir(), 'stt-peers-'));
    chmodSync(peersForNobody, 0o755);
    process.once('exit', () => rmSync(peersForNobody!, { recursive: true, force: true }));
  }
  const copy = join(peersForNobody, name);
  if (!existsSync(copy)) {
    copyFileSync(join(PEERS, name), copy);
    chmodSync(copy, 0o644);
  }
  return copy;
}

let socktoolForAll: string | undefined;

/**
 * A copy of the built CLI that any user can run (its bin, dist, package.json, addon and runtime dependencies, in a
 * directory of mode 755), for tests that run socktool as another user: the clone may sit where they cannot read.
 */
export function readableSocktool(): string {
  if (!socktoolForAll) {
    const root = mkdtempSync(join(tmpdir(), 'stt-socktool-'));
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    for (const part of ['bin', 'dist', 'package.json', 'prebuilds', 'src/native/build/Release', 'node_modules/commander', 'node_modules/node-gyp-build']) {
      if (existsSync(join(ROOT, part))) cpSync(join(ROOT, part), join(root, part), { recursive: true });
    }
    execFileSync('chmod', ['-R', 'a+rX', root]);
    chmodSync(root, 0o755);
    socktoolForAll = join(root, 'bin', 'socktool');
  }
  return socktoolForAll;
}

/** test/peers/server.py: a Python server of any kind and mode; resolves once it listens. */
export const pyServer = (kind: string, where: string, mode = 'echo', tls?: { cert: string; key: string }) =>
  startListening('python3', ['-u', join(PEERS, 'server.py'), kind, where, mode, ...(tls ? [tls.cert, tls.key] : [])]);

/**
 * Resolves once `check` holds, looking every few ms; fails the test after `ms` (a generous bound, not a timing claim).
 * `what` may be a function, to say in the failure how far things got.
 */
export async function until(check: () => boolean | Promise<boolean>, what: string | (() => string), ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
