// `socktool nc`: OpenBSD netcat's spelling (Debian's netcat-openbsd 1.219) on socktool's engine. The behaviours
// below were measured against that nc and are held to it by test/nc-parity.test.ts.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { getSystemErrorMap } from 'node:util';
import {
  bind, bindTo, dial, formatAddress, isStreamNetwork, listen, NetError, withIpFamily, unixAddress, type Address, type Conn,
  type Datagram, type DatagramSocket, type InetNetwork,
} from '../index.js';
import { untilSignal } from './common.js';
import { datagramSession, StdinPump, streamSession, type SessionOptions } from './session.js';
import { CliError } from './exit.js';
import { oneLine, writeOut } from './output.js';

/** The flags, by commander's attribute names (`-4` is `'4'`, `-U` is `U`). */
export interface NcOptions {
  '4'?: boolean;
  '6'?: boolean;
  l?: boolean;
  k?: boolean;
  u?: boolean;
  U?: boolean;
  N?: boolean;
  v?: boolean;
  z?: boolean;
  n?: boolean;
  /** -w: seconds for a connect, and of idleness before the connection is closed. */
  w?: number;
  /** -q: after stdin's EOF, quit after this many seconds. */
  q?: number;
  s?: string;
  p?: number;
}

/** nc's own lines on stderr, as nc words them. */
const say = (text: string): void => void process.stderr.write(`nc: ${oneLine(text)}\n`);
const tell = (text: string): void => void process.stderr.write(`${oneLine(text)}\n`);

/** A failure already reported (or one nc reports by its exit code alone): exit 1 (nc's only failure code). */
export class NcExit extends CliError {
  constructor() {
    super('');
  }
}

/** A failure in nc's words: its line, then exit 1. */
function fail(text: string): never {
  say(text);
  throw new NcExit();
}

/** The C library's text for an errno code (`Connection refused`), as nc prints it. */
function strerror(code: string): string {
  for (const [name, message] of getSystemErrorMap().values()) {
    if (name === code) return message[0]!.toUpperCase() + message.slice(1);
  }
  return code;
}

let services: Map<string, string> | undefined;

/** The service name of a port (`[tcp/http]`), from /etc/services as getservbyport reads it; `*` when none. */
function serviceName(port: number, proto: 'tcp' | 'udp'): string {
  if (!services) {
    services = new Map();
    let text = '';
    try {
      text = readFileSync('/etc/services', 'utf8');
    } catch {
      // no services database: every port is `*`
    }
    for (const line of text.split('\n')) {
      const m = /^([^\s#]+)\s+(\d+)\/(tcp|udp)/.exec(line);
      if (m && !services.has(`${m[2]}/${m[3]}`)) services.set(`${m[2]}/${m[3]}`, m[1]!);
    }
  }
  return services.get(`${port}/${proto}`) ?? '*';
}

/** A port or a range (`20-30`, in either order), as nc's build_ports reads it. */
function portsOf(text: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const lo = Number(m?.[1]);
  const hi = m?.[2] === undefined ? lo : Number(m[2]);
  if (!m || !(lo >= 1 && lo <= 65535 && hi >= 1 && hi <= 65535)) fail('port range not valid');
  const ports: number[] = [];
  for (let p = Math.min(lo, hi); p <= Math.max(lo, hi); p++) ports.push(p);
  return ports;
}

/** The session's options from nc's flags: -w idle, -q after stdin's EOF, -N half-close; -l ends with the peer. */
const sessionOptions = (o: NcOptions): SessionOptions => ({
  idle: o.w !== undefined ? o.w * 1000 : undefined,
  afterEof: o.q !== undefined ? { ms: o.q * 1000 } : undefined,
  halfClose: o.N,
  endsWithPeer: o.l,
});

/** One connection, as nc's readwrite; a peer gone while written to, or reset, ends it as an EOF would. */
const ncStream = (conn: Conn, stdin: StdinPump, o: NcOptions) =>
  streamSession(conn, stdin, sessionOptions(o), { send: (c) => conn.write(c).catch(() => {}), received: writeOut });

/** Datagrams, as nc's: a refusal (nobody at the port yet, or an earlier send's ICMP) is not an end. */
const ncDatagrams = (sock: DatagramSocket, stdin: StdinPump, o: NcOptions, send: (chunk: Buffer) => Promise<void>,
  received: (d: Datagram) => Promise<void>) =>
  datagramSession(sock, stdin, sessionOptions(o), { send: (c) => send(c).catch(() => {}), received },
    (err) => err instanceof NetError && err.code === 'ECONNREFUSED');

interface Target {
  network: 'tcp' | 'udp' | 'unix' | 'unixgram';
  host?: string;
  ports: number[];
  path?: string;
}

/** What the arguments name, checked as nc checks them. */
function target(args: string[], o: NcOptions): Target {
  if (o.k && !o.l) fail('must use -l with -k');
  if (o.l && o.z) fail('cannot use -z and -l');
  if (o.z && o.u) fail('-z scans TCP ports or unix stream sockets here, not UDP');
  if (o.U) {
    if (args.length !== 1) fail('a unix socket takes one path: nc -U [-u] [-l] path');
    return { network: o.u ? 'unixgram' : 'unix', path: args[0]!, ports: [] };
  }
  const network = o.u ? 'udp' : 'tcp';
  if (o.l) {
    // nc -l [host] port, or -l -p port [-s host]
    const [host, port] = args.length === 2 ? [args[0], args[1]] : args.length === 1 ? [o.s, args[0]]
      : args.length === 0 && o.p !== undefined ? [o.s, String(o.p)] : fail('usage: nc -l [-u] [host] port');
    // nc -l 0: a port the kernel picks, which -v prints.
    return { network, host, ports: port === '0' ? [0] : portsOf(port!) };
  }
  if (args.length < 2) fail('usage: nc [-46lkuUNvzn] [-w secs] [-q secs] [-s source] [-p port] host port | -U path');
  const ports = args.slice(1).flatMap(portsOf);
  if (ports.length > 1 && !o.z) fail('several ports are for -z scans');
  const host = args[0]!;
  if (o.n && isIP(host) === 0) fail(`getaddrinfo for host "${host}" port ${ports[0]}: Name or service not known`);
  return { network, host, ports };
}

/** tcp or udp, pinned to a family by -4 or -6. */
const inetNetwork = (base: 'tcp' | 'udp', o: NcOptions): InetNetwork =>
  (o['4'] ? withIpFamily(base, 4) : o['6'] ? withIpFamily(base, 6) : base) as InetNetwork;

/** -s and -p: the address a client sends from. */
function source(t: Target, o: NcOptions): Address | undefined {
  if (t.path !== undefined) return o.s === undefined ? undefined : unixAddress(t.network as 'unixgram', o.s);
  if (o.s === undefined && o.p === undefined) return undefined;
  return { network: inetNetwork(t.network as 'tcp', o), host: o.s ?? '', port: o.p ?? 0 };
}

function destination(t: Target, o: NcOptions, port: number): Address {
  if (t.path !== undefined) return unixAddress(t.network as 'unix', t.path);
  return { network: inetNetwork(t.network as 'tcp', o), host: t.host ?? (o['6'] ? '::' : '0.0.0.0'), port };
}

/** A NetError's errno text, as nc's warn() prints it. */
const reason = (err: unknown) => strerror(err instanceof NetError ? err.code : 'EIO');
const hostPort = (a: Address) => ('path' in a ? formatAddress(a).replace(/^unix(gram)?:(\/\/)?/, '') : `${a.host} ${a.port}`);

/** `-z`: a connect to each port in turn; exit 0 when one was open, as nc. */
async function scan(t: Target, o: NcOptions): Promise<void> {
  let open = false;
  for (const port of t.path !== undefined ? [0] : t.ports) {
    const to = destination(t, o, port);
    try {
      const conn = await dial(to, { signal: o.w !== undefined ? AbortSignal.timeout(o.w * 1000) : undefined });
      conn.stream.destroy();
      open = true;
      if (o.v && t.path === undefined) {
        tell(`Connection to ${t.host} ${port} port [tcp/${o.n ? '*' : serviceName(port, 'tcp')}] succeeded!`);
      }
    } catch (err) {
      if (o.v) say(t.path !== undefined ? `${t.path}: ${reason(err)}` : `connect to ${t.host} port ${port} (tcp) failed: ${reason(err)}`);
    }
  }
  if (!open) throw new NcExit();
}

async function client(t: Target, o: NcOptions, stdin: StdinPump): Promise<void> {
  const port = t.ports[0] ?? 0;
  const to = destination(t, o, port);
  const local = source(t, o);
  const proto = t.network === 'udp' ? 'udp' : 'tcp';
  const connected = () => {
    if (o.v && t.path === undefined) {
      tell(`Connection to ${t.host} ${port} port [${proto}/${o.n ? '*' : serviceName(port, proto)}] succeeded!`);
    }
  };
  const failed = (err: unknown): never => {
    if (err instanceof NetError && err.op === 'parse') fail(err.message);
    if (t.path !== undefined) fail(`${t.path}: ${reason(err)}`);
    if (o.v) fail(`connect to ${t.host} port ${port} (${proto}) failed: ${reason(err)}`);
    throw new NcExit();
  };
  if (isStreamNetwork(t.network)) {
    const conn = await dial(to, { signal: o.w !== undefined ? AbortSignal.timeout(o.w * 1000) : undefined,
      ...(local && { local }) }).catch(failed);
    connected();
    try {
      await Promise.race([ncStream(conn, stdin, o), untilSignal()]);
    } finally {
      conn.stream.destroy();
    }
    return;
  }
  const sock = await bindTo(to, local ? { local } : {}).catch(failed);
  connected();
  try {
    await Promise.race([ncDatagrams(sock, stdin, o, (c) => sock.send(c), (d) => writeOut(d.data)), untilSignal()]);
  } finally {
    await sock.close();
  }
}

/** `-l` on a stream: one client (with -k, one after another), each served as nc's readwrite. */
async function listenStream(t: Target, o: NcOptions, stdin: StdinPump): Promise<void> {
  const at = destination(t, o, t.ports[0] ?? 0);
  const listener = await listen(at).catch((err: NetError) => fail(reason(err)));
  if (o.v) {
    if ('path' in at) tell(`Bound on ${t.path}`);
    tell(`Listening on ${hostPort(listener.addr)}`);
  }
  const stopped = untilSignal().then(() => null);
  try {
    do {
      const conn = await Promise.race([listener.accept(), stopped]);
      if (!conn) return;
      if (o.v) tell(`Connection received on ${'path' in at ? t.path : hostPort(conn.remoteAddr)}`);
      try {
        if ((await Promise.race([ncStream(conn, stdin, o), stopped])) === null) return;
      } finally {
        conn.stream.destroy();
      }
    } while (o.k);
  } finally {
    await listener.close();
  }
}

/**
 * `-l` on datagrams: the first sender becomes the peer (the socket is connected to it, so only it is heard
 * from); with -k, everyone is printed and stdin goes to the latest sender.
 */
async function listenDatagram(t: Target, o: NcOptions, stdin: StdinPump): Promise<void> {
  const at = destination(t, o, t.ports[0] ?? 0);
  const sock = await bind(at).catch((err: NetError) => fail(reason(err)));
  if (o.v) tell(`Bound on ${'path' in at ? t.path : hostPort(sock.localAddr)}`);
  let peer: Address | null = null;
  const received = async ({ from, data }: Datagram) => {
    if (from && (o.k || peer === null)) {
      if (peer === null && o.v) tell(`Connection received on ${hostPort(from)}`);
      peer = from;
      if (!o.k) await sock.connect(from).catch(() => {});
    }
    await writeOut(data);
  };
  const send = async (chunk: Buffer) => {
    if (peer) await sock.sendTo(chunk, peer);
  };
  try {
    await Promise.race([ncDatagrams(sock, stdin, { ...o, w: undefined }, send, received), untilSignal()]);
  } finally {
    await sock.close();
  }
}

/** `socktool nc …`: exit 0, or 1 for any failure, as nc (a failure nc has no words for is said in socktool's). */
export async function ncCommand(args: string[], o: NcOptions): Promise<void> {
  try {
    await nc(args, o);
  } catch (err) {
    if (!(err instanceof NcExit)) say((err as Error).message);
    throw err instanceof NcExit ? err : new NcExit();
  }
}

async function nc(args: string[], o: NcOptions): Promise<void> {
  const t = target(args, o);
  if (o.z) return scan(t, o);
  void untilSignal(); // handlers first: a signal closes cleanly (the socket file removed) and exits 0
  const stdin = new StdinPump();
  if (!o.l) return client(t, o, stdin);
  if (isStreamNetwork(t.network)) return listenStream(t, o, stdin);
  return listenDatagram(t, o, stdin);
}
