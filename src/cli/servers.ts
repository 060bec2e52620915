import {
  bind, Codes, echo, formatAddress, isStreamNetwork, listen, NetError, NETWORKS, networksWhere, notify, serve, sockperf, upper, type Address, type Conn, type Data,
  type DatagramSocket, type Exchange, type Handler, type NotifyState, type UnixNetwork, type WaitOptions,
} from '../index.js';
import {
  datagramReasons, DEFAULT_MAX_PROGRAMS, recordingFor, unixAccess, refuseGiven, serverIdle, serverLimits, serverTlsOptions,
  untilSignal, type CommonOptions,
} from './common.js';
import { execHandler, programOption, type ProgramOptions } from './exec.js';
import { addrText, notice, writeOut, type Output } from './output.js';
import { datagramSession, StdinPump, streamSession, throwIfFailed, type Ended, type StdinSink } from './session.js';

/** `--type` of the unix commands: the socket type's name without SOCK_ (stream, dgram, seqpacket), and its network. */
export const UNIX_TYPES: Record<string, UnixNetwork> = Object.fromEntries(networksWhere((row) => row.family === 'unix')
  .map((n) => [NETWORKS[n].type.slice('SOCK_'.length).toLowerCase(), n as UnixNetwork]));

export interface ServeCommandOptions extends CommonOptions, ProgramOptions {
  handler: HandlerName;
}

export type HandlerName = 'echo' | 'upper' | 'print' | 'discard' | 'sockperf';

/**
 * The handlers `serve --handler` offers; print writes what arrives to stdout (its JSON events carry it); sockperf
 * answers as sockperf's server does.
 */
function handlerNamed(name: HandlerName, out: Output): Handler {
  switch (name) {
    case 'echo': return echo;
    case 'upper': return upper;
    case 'sockperf': return sockperf;
    case 'print': return async (ex) => {
      for await (const chunk of ex) if (!out.json) await writeOut(chunk);
    };
    case 'discard': return async (ex) => {
      for await (const _ of ex);
    };
  }
}
export const HANDLERS: HandlerName[] = ['echo', 'upper', 'print', 'discard', 'sockperf'];

/** An exchange seen through the CLI's eyes: each chunk and reply dumped (-v) and reported (--json). */
export class Watched implements Exchange {
  constructor(private ex: Exchange, private out: Output) {}

  get network() {
    return this.ex.network;
  }

  get kind() {
    return this.ex.kind;
  }

  get localAddr() {
    return this.ex.localAddr;
  }

  get remoteAddr() {
    return this.ex.remoteAddr;
  }

  send(data: Data): Promise<void> {
    this.out.dump('>', this.ex.remoteAddr, typeof data === 'string' ? Buffer.from(data) : data);
    return this.ex.send(data);
  }

  peerCredentials() {
    return this.ex.peerCredentials();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    const kind = this.ex.kind === 'stream' ? 'data' : 'datagram';
    for await (const chunk of this.ex) {
      await this.out.received(kind, this.ex.remoteAddr, chunk, false);
      yield chunk;
    }
  }
}

/**
 * Wraps a handler with the CLI's events and, with `watch`, the dump of its traffic; only when asked for, so the
 * plain path stays the library's. A program per connection (--exec) is wired to the connection itself: it gets
 * the events, and its traffic is not dumped.
 */
function instrument(handler: Handler, out: Output, watch = true): Handler {
  if (!out.json && !out.verbose) return handler;
  return async (ex) => {
    if (ex.kind === 'stream') out.event('accepted', { peer: addrText(ex.remoteAddr) }, `accepted ${addrText(ex.remoteAddr)}`);
    try {
      await handler(watch ? new Watched(ex, out) : ex);
    } finally {
      if (ex.kind === 'stream') out.event('closed', { peer: addrText(ex.remoteAddr) }, `${addrText(ex.remoteAddr)} closed`);
    }
  };
}

/** Replies to a datagram peer that has gone (ECONNREFUSED, ENOENT) are expected churn: shown only with -v. */
const GONE_PEER = new Set(['ECONNREFUSED', 'ENOENT', Codes.UNNAMED_PEER]);

/** How servers report a client's or handler's failure: one line on stderr (and an event); the server goes on. */
export function reporter(out: Output) {
  return (err: Error, ex: Exchange | null): void => {
    const code = err instanceof NetError ? err.code : 'EIO';
    if (ex?.kind === 'stream' && code === Codes.TIMEOUT) {
      // The idle limit at work: policy, not failure (shown with -v).
      out.event('timeout', { peer: addrText(ex.remoteAddr) }, `${addrText(ex.remoteAddr)} idle, closed`);
      return;
    }
    if (ex?.kind === 'datagram' && GONE_PEER.has(code) && !out.verbose) return;
    out.error(code, err.message);
    notice(err.message);
  };
}

/** What runUntilSignal runs: a Server, or a channel in its shape. */
interface Serving {
  readonly addr: Address;
  /** Datagrams (or messages) dropped by policy so far. */
  readonly dropped: number;
  close(options?: WaitOptions): Promise<void>;
}

interface RunOptions {
  /** Resolves when the work is done by itself (an inherited connection's server, `publish` at stdin's EOF). */
  until?: Promise<void>;
  /** Told as shutdown begins, before the close (kills the programs of --exec). */
  onStop?: () => void;
  /** What the drops reported are of. Default `datagram`. */
  drops?: string;
}

/**
 * Prints the listening line, serves until SIGINT/SIGTERM (or until `until`), then closes (cutting connections,
 * removing the socket file). What the server drops by policy is reported once a second, never one line each.
 */
export async function runUntilSignal(server: Serving, out: Output, o: RunOptions = {}): Promise<void> {
  await announce(server.addr, out);
  const drops = reportDrops(server, out, o.drops);
  try {
    await Promise.race([untilSignal(), ...(o.until ? [o.until] : [])]);
  } finally {
    clearInterval(drops);
    await tellManager({ stopping: true });
    o.onStop?.();
    await server.close({ signal: AbortSignal.abort() });
  }
  out.event('stopped', { address: addrText(server.addr) });
}

/** Tells a service manager ($NOTIFY_SOCKET) how the server is; a failure is one notice, and the server goes on. */
async function tellManager(state: NotifyState): Promise<void> {
  await notify(state).catch((err: Error) => notice(`cannot notify the service manager: ${err.message}`));
}

/**
 * The listening line, then READY=1 to a service manager: both once the socket accepts, so that whoever waits for
 * either can connect at once.
 */
async function announce(addr: Address, out: Output): Promise<void> {
  out.listening(addr);
  await tellManager({ ready: true, status: `listening on ${formatAddress(addr)}` });
}

/** Once a second, if the server dropped datagrams (or messages) since the last look: one line on stderr, or a `dropped` event. */
function reportDrops(server: { readonly dropped: number }, out: Output, what = 'datagram'): NodeJS.Timeout {
  let seen = 0;
  const timer = setInterval(() => {
    const total = server.dropped;
    if (total === seen) return;
    const count = total - seen;
    seen = total;
    if (out.json) out.event('dropped', { count, total });
    else notice(`dropped ${count} ${what}${count === 1 ? '' : 's'} (${total} in all): a peer was not reading its replies`);
  }, 1000);
  timer.unref();
  return timer;
}

/** `serve` and its named forms. */
export async function serveCommand(addr: Address, o: ServeCommandOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  const program = programOption(o);
  const datagram = !isStreamNetwork(addr.network);
  refuseGiven(o, {
    ...datagramReasons(addr),
    timeout: datagram && `${addr.network} has no connections to time out`,
    // With a program per datagram, it bounds the programs running at once.
    maxClients: datagram && !program && `${addr.network} has no clients to count (with --exec it bounds the programs at once)`,
    handler: program && `${o.exec !== undefined ? '--exec' : '--sh-exec'} runs a program in place of a handler`,
  });
  // A program per exchange is wired to the connection itself (half-close, credentials), not to the CLI's view of it.
  const exec = program && execHandler(program, o.maxClients ?? DEFAULT_MAX_PROGRAMS);
  const handler = exec ? instrument(exec.handler, out, false) : instrument(handlerNamed(o.handler, out), out);
  const server = await serve(addr, handler, { ...serverLimits(o), idle: serverIdle(o), tls: serverTlsOptions(o), onError: reporter(out),
    ...unixAccess(o, addr, out), pcap: recordingFor(o, `socktool serve ${addrText(addr)}`) });
  await runUntilSignal(server, out, { onStop: exec?.stop, until: server.closed });
}

export interface ListenCommandOptions extends CommonOptions {
  keepOpen?: boolean;
  halfClose?: boolean;
}

/** `listen` on a stream network: clients' bytes to stdout, stdin to every client connected. */
async function listenCommandStream(addr: Address, o: ListenCommandOptions, out: Output): Promise<void> {
  const stdin = new StdinPump();
  const print = (conn: Conn) => (chunk: Buffer) => out.received('data', conn.remoteAddr, chunk);
  const accepted = (conn: Conn) => out.event('accepted', { peer: addrText(conn.remoteAddr) }, `accepted ${addrText(conn.remoteAddr)}`);
  const closed = (conn: Conn) => out.event('closed', { peer: addrText(conn.remoteAddr) }, `${addrText(conn.remoteAddr)} closed`);
  if (o.keepOpen) {
    // Every client at once: stdin goes to all of them, each at its own pace (a slow one holds stdin back rather
    // than buffering without bound); each client's bytes are printed until its EOF. serve() times them out.
    const clients = new Set<Conn>();
    let reading = false;
    const broadcast: StdinSink = {
      write: async (chunk) => {
        await Promise.all([...clients].map((c) => {
          out.dump('>', c.remoteAddr, chunk);
          return c.write(chunk).catch(() => {});
        }));
      },
      eof: () => void (o.halfClose && Promise.all([...clients].map((c) => c.end().catch(() => {})))),
    };
    const server = await serve(addr, async (ex) => {
      const conn = ex as Conn;
      accepted(conn);
      clients.add(conn);
      if (!reading) stdin.attach(broadcast); // stdin is read from the first client on
      reading = true;
      try {
        const e = await streamSession(conn, null, {}, { send: async () => {}, received: print(conn) });
        if (e.how === 'error') throw e.error;
      } finally {
        clients.delete(conn);
        closed(conn);
      }
    }, { ...serverLimits(o), idle: o.timeout, tls: serverTlsOptions(o), onError: reporter(out), ...unixAccess(o, addr, out),
      pcap: recordingFor(o, `socktool listen ${addrText(addr)}`) });
    return runUntilSignal(server, out, { until: server.closed });
  }
  // netcat: one client, then the listening socket is closed; the command ends with that client.
  const listener = await listen(addr, { tls: serverTlsOptions(o), ...unixAccess(o, addr, out),
    pcap: recordingFor(o, `socktool listen ${addrText(addr)}`) });
  await announce(listener.addr, out);
  const stopped = untilSignal().then((): Ended => ({ how: 'stopped' }));
  const conn = await Promise.race([listener.accept(), stopped.then(() => null)]);
  await listener.close();
  if (!conn) return;
  accepted(conn);
  let ended: Ended;
  try {
    ended = await Promise.race([stopped, streamSession(conn, stdin, { idle: o.timeout, halfClose: o.halfClose, endsWithPeer: true }, {
      send: async (chunk) => {
        out.dump('>', conn.remoteAddr, chunk);
        // A client gone while we write is told by the read side.
        await conn.write(chunk).catch(() => {});
      },
      received: print(conn),
    })]);
  } finally {
    conn.stream.destroy();
  }
  if (ended.how !== 'stopped') closed(conn);
  throwIfFailed(ended, addr.network, conn.remoteAddr, o.timeout);
}

/**
 * `listen` on a datagram network: every datagram from anyone is printed, and stdin lines go to the peer: the
 * first sender that can be answered (with -k, the latest one). The socket is never connected, so no sender is
 * turned away; an unnamed sender is printed but cannot be the peer, and a peer that has gone (its replies are
 * refused) stops being it, so the next sender takes its place. No sender can end the listener.
 */
async function listenCommandDatagram(addr: Address, o: ListenCommandOptions, out: Output): Promise<void> {
  const sock: DatagramSocket = await bind(addr, { ...unixAccess(o, addr, out), pcap: recordingFor(o, `socktool listen ${addrText(addr)}`) });
  await announce(sock.localAddr, out);
  const drops = reportDrops(sock, out);
  let peer: Address | null = null;
  let ended: Ended;
  try {
    ended = await Promise.race([untilSignal().then((): Ended => ({ how: 'stopped' })),
      datagramSession(sock, new StdinPump('lines'), { idle: o.timeout }, {
        send: async (line) => {
          const to = peer;
          if (to === null) return;
          out.dump('>', to, line);
          await sock.sendTo(line, to).catch((err: Error) => {
            if (err instanceof NetError && GONE_PEER.has(err.code) && peer === to) peer = null;
            reporter(out)(err, null);
          });
        },
        received: (d) => {
          if (d.from !== null && (peer === null || o.keepOpen)) {
            if (peer === null) out.event('accepted', { peer: addrText(d.from) }, `first datagram from ${addrText(d.from)}`);
            peer = d.from;
          }
          return out.received('datagram', d.from, d.data);
        },
      })]);
  } finally {
    clearInterval(drops);
    await sock.close();
  }
  throwIfFailed(ended, addr.network, undefined, o.timeout);
}

export async function listenCommand(addr: Address, o: ListenCommandOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  refuseGiven(o, {
    ...datagramReasons(addr),
    maxClients: isStreamNetwork(addr.network) ? !o.keepOpen && 'without -k, listen serves one client'
      : `${addr.network} has no clients to count`,
  });
  // STOPPING=1 as shutdown begins, and sent before the command ends (-k serves through runUntilSignal, which says it).
  let told: Promise<void> | undefined;
  if (!o.keepOpen || !isStreamNetwork(addr.network)) void untilSignal().then(() => (told = tellManager({ stopping: true })));
  try {
    if (isStreamNetwork(addr.network)) await listenCommandStream(addr, o, out);
    else await listenCommandDatagram(addr, o, out);
  } finally {
    await told;
  }
}
