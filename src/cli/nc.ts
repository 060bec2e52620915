// `socktool nc`: OpenBSD netcat's spelling (Debian's netcat-openbsd 1.219) on socktool's engine. The behaviours
// below were measured against that nc and are held to it by test/nc-parity.test.ts.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { getSystemErrorMap } from 'node:util';
import {
  bind, bindTo, dial, formatAddress, isStreamNetwork, listen, NetError, withIpFamily, unixAddress, type Address, type Conn, type DatagramSocket, type InetNetwork,
} from '../index.js';
import { Idle, untilSignal } from './common.js';
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

/**
 * Reads stdin once for the whole command, handing each chunk to the session attached now (with -k, one client
 * after another). Nothing is read while no session is attached.
 */
class StdinPump {
  private sink: { write(chunk: Buffer): Promise<void>; eof(): void } | undefined;
  private wake: (() => void) | undefined;
  ended = false;

  constructor() {
    void this.run();
  }

  attach(sink: { write(chunk: Buffer): Promise<void>; eof(): void }): void {
    this.sink = sink;
    if (this.ended) sink.eof();
    this.wake?.();
  }

  detach(): void {
    this.sink = undefined;
  }

  private async run(): Promise<void> {
    try {
      for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
        while (!this.sink) await new Promise<void>((resolve) => (this.wake = resolve));
        await this.sink.write(chunk).catch(() => {});
      }
    } catch {
      // a stdin that fails ends like one at EOF
    }
    this.ended = true;
    this.sink?.eof();
  }
}

/**
 * How a session ends, as nc's: after -w seconds without traffic, -q seconds after stdin's EOF, or when `end()`
 * is called; `ended` resolves then, once, with stdin detached.
 */
function sessionEnd(o: NcOptions, stdin: StdinPump) {
  const idle = new Idle(o.w !== undefined ? o.w * 1000 : undefined);
  let quit: NodeJS.Timeout | undefined;
  let resolve!: () => void;
  const ended = new Promise<void>((r) => (resolve = r));
  const end = () => {
    idle.stop();
    clearTimeout(quit);
    stdin.detach();
    resolve();
  };
  idle.signal?.addEventListener('abort', end);
  return {
    ended,
    end,
    touch: () => idle.touch(),
    stdinEnded: () => {
      if (o.q !== undefined) quit = setTimeout(end, o.q * 1000);
    },
  };
}

/**
 * One connection, as nc's readwrite: the peer's bytes to stdout, stdin to the peer (with -N, its EOF passed
 * on). It ends when both inputs are done; in listen mode, when the peer is; or as sessionEnd says.
 */
function streamSession(conn: Conn, stdin: StdinPump, o: NcOptions): Promise<void> {
  const session = sessionEnd(o, stdin);
  let netDone = false;
  let stdinDone = false;
  const check = () => {
    if (netDone && (stdinDone || o.l)) session.end();
  };
  stdin.attach({
    write: async (chunk) => {
      session.touch();
      await conn.write(chunk);
    },
    eof: () => {
      stdinDone = true;
      if (o.N) void conn.end().catch(() => {});
      session.stdinEnded();
      check();
    },
  });
  void (async () => {
    try {
      for (let c = await conn.read(); c !== null; c = await conn.read()) {
        session.touch();
        await writeOut(c);
      }
    } catch {
      // a reset ends the reading as an EOF does
    }
    netDone = true;
    check();
  })();
  return session.ended;
}

/** Datagrams: stdin chunks out, every datagram in printed; ends only as sessionEnd says. */
function datagramSession(sock: DatagramSocket, stdin: StdinPump, o: NcOptions, send: (chunk: Buffer) => Promise<void>,
  received: (from: Address | null, data: Buffer) => Promise<void>): Promise<void> {
  const session = sessionEnd(o, stdin);
  const stop = new AbortController();
  void session.ended.then(() => stop.abort());
  stdin.attach({
    write: async (chunk) => {
      session.touch();
      // A refusal (nobody at the port yet) is not an end: nc carries on.
      await send(chunk).catch(() => {});
    },
    eof: session.stdinEnded,
  });
  void (async () => {
    for (;;) {
      let d;
      try {
        d = await sock.recvFrom({ signal: stop.signal });
      } catch (err) {
        if (stop.signal.aborted) return;
        if (err instanceof NetError && err.code === 'ECONNREFUSED') continue; // an earlier send's ICMP
        return session.end();
      }
      session.touch();
      await received(d.from, d.data);
    }
  })();
  return session.ended;
}

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
    return { network, host, ports: portsOf(port!) };
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
      await Promise.race([streamSession(conn, stdin, o), untilSignal()]);
    } finally {
      conn.stream.destroy();
    }
    return;
  }
  const sock = await bindTo(to, local ? { local } : {}).catch(failed);
  connected();
  try {
    await Promise.race([datagramSession(sock, stdin, o, (c) => sock.send(c), (_, data) => writeOut(data)), untilSignal()]);
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
        if ((await Promise.race([streamSession(conn, stdin, o), stopped])) === null) return;
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
  const received = async (from: Address | null, data: Buffer) => {
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
    await Promise.race([datagramSession(sock, stdin, { ...o, w: undefined }, send, received), untilSignal()]);
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
