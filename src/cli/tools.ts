import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isIP } from 'node:net';
import {
  addonStatus, bind, closeFd, dial, formatAddress, inetAddress, inheritedSocket, isStreamNetwork, listen, lookupHost, NetError, NETWORKS,
  networksWhere, withIpFamily, type Address, type Conn, type InetNetwork,
} from '../index.js';
import { currentRuntime, runtimeText, TESTED, testedText } from '../core/runtime.js';
import { CliError, UsageError } from './exit.js';
import { notice, oneLine, writeOut, type Output } from './output.js';

/** `22,80,8000-8100` → the ports in order; more than 65535 entries is refused before any connect. */
function parsePorts(spec: string): number[] {
  const ports: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part.trim());
    if (!m) throw new UsageError(`bad port list ${JSON.stringify(spec)}: ${JSON.stringify(part)} is not a port or a range a-b`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || lo > hi) throw new UsageError(`bad port range ${JSON.stringify(part)}: ports are 1-65535, low to high`);
    if (ports.length + (hi - lo + 1) > 65535) throw new UsageError(`too many ports in ${JSON.stringify(spec)}: at most 65535`);
    for (let p = lo; p <= hi; p++) ports.push(p);
  }
  return ports;
}

export interface ScanOptions {
  all?: boolean;
  concurrency: number;
  timeout?: number;
}

type PortState = 'open' | 'closed' | 'filtered' | string;

/** Python's connect_ex on top of dial: 'open', 'closed' (refused), 'filtered' (no answer in time), or the errno name. */
async function probePort(addr: Address, timeout: number): Promise<PortState> {
  try {
    const conn = await dial(addr, { signal: AbortSignal.timeout(timeout) });
    conn.stream.destroy();
    return 'open';
  } catch (err) {
    const code = err instanceof NetError ? err.code : 'EIO';
    return code === 'ECONNREFUSED' ? 'closed' : code === 'ETIMEDOUT' ? 'filtered' : code;
  }
}

/** `scan`: a TCP connect scan with at most `concurrency` connects in flight. */
export async function scanCommand(host: string, spec: string, o: ScanOptions, out: Output): Promise<void> {
  const ports = parsePorts(spec);
  // One lookup for the whole scan: a bad name fails once, and every port is tried on the same address.
  const ip = isIP(host) ? host : (await lookupHost(host))[0]!.host;
  const network = withIpFamily('tcp', isIP(ip) === 6 ? 6 : 4) as InetNetwork;
  const states = new Map<number, PortState>();
  let next = 0;
  const worker = async () => {
    while (next < ports.length) {
      const port = ports[next++]!;
      const state = await probePort(inetAddress(network, ip, port), o.timeout ?? 1000);
      states.set(port, state);
      if (o.all || state === 'open') out.event('port', { host: ip, port, state });
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, ports.length) }, worker));
  if (!out.json) {
    for (const port of [...states.keys()].sort((a, b) => a - b)) {
      const state = states.get(port)!;
      if (o.all || state === 'open') await writeOut(`${port}/tcp ${state}\n`);
    }
  }
  // As `nc -z`: success means something listens.
  if (![...states.values()].includes('open')) {
    throw new CliError(`no open port on ${ip} among ${ports.length}`);
  }
}

/** `resolve`: every address getaddrinfo gives, one a line. */
export async function resolveCommand(host: string, o: { family?: string }, out: Output): Promise<void> {
  const family = o.family === undefined ? 0 : (Number(o.family) as 4 | 6);
  for (const a of await lookupHost(host, { family })) {
    out.event('address', { host, address: a.host, family: a.family });
    if (!out.json) await writeOut(`${a.host}\n`);
  }
}

type Probe = (dir: string) => Promise<unknown>;

/** Listens on `addr`, dials it, and hands the pair to `check`; everything is closed afterwards. */
async function streamPair(addr: string, check: (client: Conn, server: Conn) => Promise<unknown> = async () => {}) {
  const l = await listen(addr);
  try {
    const client = await dial(l.addr, { signal: AbortSignal.timeout(2000) });
    const server = await l.accept({ signal: AbortSignal.timeout(2000) });
    try {
      // The check first: descriptors on a unix stream are received before its first read.
      await check(client, server);
      await client.write('x');
      if ((await server.read({ signal: AbortSignal.timeout(2000) }))?.toString() !== 'x') throw new Error('no data');
    } finally {
      client.stream.destroy();
      server.stream.destroy();
    }
  } finally {
    await l.close();
  }
}

/** Binds `addr` and sends itself a datagram. */
async function datagramSelf(addr: string) {
  const sock = await bind(addr);
  try {
    await sock.sendTo('x', sock.localAddr);
    await sock.recvFrom({ signal: AbortSignal.timeout(2000) });
  } finally {
    await sock.close();
  }
}

/** A listening socket named by its descriptor alone (fd:N), as an inherited one is: it must tell what it is. */
async function describedByFd(): Promise<void> {
  const l = await listen(abstract('unix'));
  try {
    const taken = inheritedSocket(`fd:${l.fd}`);
    if (!taken.listening || formatAddress(taken) !== formatAddress(l.addr)) throw new Error('the descriptor does not say what it is');
  } finally {
    await l.close();
  }
}

/** A datagram to itself, which must carry this process's credentials. */
async function credentialsSelf(addr: string) {
  const sock = await bind(addr);
  try {
    await sock.sendTo('x', sock.localAddr);
    const d = await sock.recvFrom({ signal: AbortSignal.timeout(2000) });
    if (d.credentials?.pid !== process.pid) throw new Error('no credentials came with it');
  } finally {
    await sock.close();
  }
}

const abstract = (net: string) => `${net}:@socktool-caps-${process.pid}-${Math.random().toString(36).slice(2)}`;

/** Each capability and the real probe that shows it. */
const PROBES: [kind: 'network' | 'feature', name: string, probe: Probe][] = [
  // Every network the table pins to a family or puts on a unix path, probed in its shape.
  ...networksWhere((row) => row.family === 'unix' || row.pinned !== 0).map((n): [kind: 'network', name: string, probe: Probe] => {
    const at = (dir: string) => NETWORKS[n].family === 'unix' ? `${n}://${join(dir, n)}`
      : `${n}://${NETWORKS[n].pinned === 6 ? '[::1]' : '127.0.0.1'}:0`;
    return ['network', n, (dir) => (isStreamNetwork(n) ? streamPair(at(dir)) : datagramSelf(at(dir)))];
  }),
  ['feature', 'ipv6', () => streamPair('tcp6://[::1]:0')],
  ['feature', 'abstract-names', () => streamPair(abstract('unix'))],
  ['feature', 'seqpacket', () => streamPair(abstract('unixpacket'))],
  ['feature', 'peer-credentials', (dir) => streamPair(`unix://${join(dir, 'c')}`, async (_, server) => {
    if ((await server.peerCredentials()).pid !== process.pid) throw new Error('wrong pid');
  })],
  ['feature', 'credential-passing', (dir) => credentialsSelf(`unixgram://${join(dir, 'k')}`)],
  ['feature', 'socket-activation', describedByFd],
  ['feature', 'fd-passing', (dir) => streamPair(`unix://${join(dir, 'f')}`, async (client, server) => {
    await client.sendFds('y', [client.fd]);
    const got = await server.recvFds({ signal: AbortSignal.timeout(2000) });
    for (const fd of got?.fds ?? []) closeFd(fd);
    if (got?.fds.length !== 1) throw new Error('no descriptor arrived');
  })],
];

/** `caps`: what this machine supports, each from a real probe. */
export async function capsCommand(out: Output): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stc-'));
  try {
    const results = await Promise.all(PROBES.map(async ([kind, name, probe]) => {
      try {
        await probe(dir);
        return { kind, name, supported: true };
      } catch (err) {
        return { kind, name, supported: false, reason: err instanceof NetError ? err.code : (err as Error).message };
      }
    }));
    const addon = addonStatus();
    const runtime = currentRuntime();
    if (out.json) {
      const pick = (kind: string) => Object.fromEntries(results.filter((r) => r.kind === kind).map((r) => [r.name, r.supported]));
      const reasons = Object.fromEntries(results.filter((r) => !r.supported).map((r) => [r.name, r.reason]));
      out.event('caps', { runtime: { ...runtime, tested: TESTED }, addon, networks: pick('network'), features: pick('feature'), reasons });
      return;
    }
    const support = runtime.support === 'refused' ? 'no addon (below)' : `${runtime.support} (the package is tested on ${testedText()})`;
    await writeOut(`${'runtime'.padEnd(8)} ${runtimeText().padEnd(19)} ${support}\n`);
    await writeOut(`${'addon'.padEnd(8)} ${'native'.padEnd(19)} ${oneLine(addon.available ? `yes (${addon.path})` : `no (${addon.reason}): ${addon.advice}`)}\n`);
    for (const r of results) {
      await writeOut(`${r.kind.padEnd(8)} ${r.name.padEnd(19)} ${r.supported ? 'yes' : `no (${r.reason})`}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * node-gyp, as npm carries it: the one npm names to what it runs (npx, scripts), else the copy inside npm next to
 * this Node, else one on the PATH.
 */
function nodeGyp(): [cmd: string, args: string[]] {
  const named = process.env.npm_config_node_gyp;
  if (named && existsSync(named)) return [process.execPath, [named]];
  const besideNode = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(besideNode)) return [process.execPath, [besideNode]];
  return ['node-gyp', []];
}

/**
 * `build-addon`: builds the native addon from the C sources the package carries, for a platform no prebuild fits
 * (node-gyp: python3, make and a C compiler). Its output goes to stderr; `--if-missing` does nothing when an
 * addon loads already (`npm run build` runs it so).
 */
export async function buildAddonCommand(o: { ifMissing?: boolean }, out: Output): Promise<void> {
  const before = addonStatus();
  if (o.ifMissing && before.available) return;
  const [cmd, args] = nodeGyp();
  // This Node's own headers, where it carries them (Debian's and nodejs.org's do): nothing to download.
  const prefix = dirname(dirname(process.execPath));
  const nodedir = !process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
  const code = await new Promise<number | string>((resolve) => {
    const child = spawn(cmd, [...args, 'rebuild', '-C', before.source, ...nodedir], { stdio: ['ignore', process.stderr, 'inherit'] });
    child.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'failed'));
    child.once('exit', (c, signal) => resolve(c ?? signal ?? 'failed'));
  });
  if (code === 'ENOENT') throw new CliError('build-addon needs node-gyp: run it as "npx socktool build-addon", or "npm install -g node-gyp" first');
  if (code !== 0) throw new CliError(`node-gyp failed (${code}): its output above says why (it needs python3, make and a C compiler)`);
  // A fresh process loads what was built: this one has settled on what it found at start.
  const caps = await new Promise<string>((resolve) => execFile(process.execPath, [process.argv[1]!, 'caps', '--json'],
    (_, stdout) => resolve(stdout)));
  const addon = (JSON.parse(caps || '{}') as { addon?: { available?: boolean; path?: string; reason?: string } }).addon;
  if (!addon?.available) throw new CliError(`the addon was built in ${before.source}, but does not load: ${addon?.reason ?? 'no answer'}`);
  if (out.json) out.event('built', { path: addon.path });
  else notice(`built the addon: ${addon.path}`);
}
