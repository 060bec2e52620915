// Above the socket API: sockets come only from its public entry points (no import cycle with src/index.ts).
import type { Socket } from 'node:net';
import {
  addressOrInherited, bind, bindTo, Codes, dial, formatAddress, isStreamNetwork, NetError, serve, type Address, type Conn,
  type DatagramSocket, type Server, type ServeOptions, type TlsOptions, type WaitOptions,
} from './api.js';
import { toAddress } from './core/address.js';
import { invalid } from './core/errors.js';
import { Account, Budget } from './core/budget.js';
import { Inbox } from './core/inbox.js';
import { sendAtOnce, type StreamConn } from './core/stream.js';
import { rowOf } from './core/networks.js';
import { impairmentProblem, Link, linkSeed, noneImpaired, prng, type ImpairedCounts, type Impairments } from './core/impair.js';
import type { Conversation, PcapWriter } from './core/pcap.js';
import { peerName, portOf } from './core/record.js';
import { IDLE_MS, reportToStderr } from './core/serve.js';
import { noTls } from './core/tls.js';

/** What happened in a relay, for logs and traffic dumps. */
export type RelayEvent =
  | { type: 'open'; client: Address | null; target: Address }
  | { type: 'data'; from: 'client' | 'target'; client: Address | null; data: Buffer }
  | { type: 'close'; client: Address | null; error?: Error; dropped?: number; impaired?: ImpairedCounts };

/**
 * @example
 * await relay('tcp://127.0.0.1:8080', 'unix:///run/app.sock', { maxConns: 100, onEvent: (e) => console.log(e.type) })
 */
export interface RelayOptions extends ServeOptions {
  /** TLS toward the target (stream targets); `tls` is the listening side's. */
  targetTls?: TlsOptions;
  /** Milliseconds to wait for the target's connect (and TLS handshake). Default 10000. */
  dialTimeout?: number;
  /**
   * A session with no traffic either way for this many ms is closed. Default: none for stream clients; 120000
   * (the CLI's too) for datagram senders, whose sessions have no other end.
   */
  idle?: number;
  /** Called for each session's opening and closing, and with each chunk or datagram when `tap` is set. */
  onEvent?: (event: RelayEvent) => void;
  /** Report every chunk and datagram to `onEvent` (costs a call per chunk). */
  tap?: boolean;
  /** Delay, pace, slice, drop, duplicate, reorder or swallow what is forwarded, each way (see core/impair.ts). */
  impair?: Impairments;
  /** Record every session, as it goes, into this pcapng file (see core/pcap.ts); its owner closes it. */
  pcap?: PcapWriter;
}

/** How long a datagram side still carries replies after the other side's EOF (socat's -t default). */
const GRACE = 500;
/** Datagrams a sender's session holds while its target side is behind; more are dropped and counted. */
const SESSION_QUEUE = 1024;

/** A relay: a server, and what its impairments have done so far, over all its sessions. */
export interface RelayServer extends Server {
  readonly impaired: ImpairedCounts;
}

/** One side of a session: a stream connection, or a datagram peer. */
interface End {
  read(options?: WaitOptions): Promise<Buffer | null>;
  write(data: Buffer): Promise<void>;
  /** Half-close: the peer sees EOF. A datagram end has none: it closes after a grace period, as socat's -t. */
  end(): Promise<void>;
  /** Closes at once, dropping what is unsent. */
  abort(): void;
  /** Closes at once so that the peer sees a reset (TCP: an RST); other transports close as abort() does. */
  reset(): void;
  close(): Promise<void>;
  /** Calls `cb` if this side is closed under the session (reset, destroyed) rather than finished both ways. */
  onGone(cb: () => void): void;
}

const connEnd = (conn: Conn): End => ({
  read: (o) => conn.read(o),
  write: (d) => conn.write(d),
  end: () => conn.end(),
  abort: () => conn.stream.destroy(),
  reset: () => {
    const s = conn.stream as Partial<Socket> & Conn['stream'];
    if (typeof s.resetAndDestroy === 'function' && rowOf(conn.network).levels.includes('tcp')) s.resetAndDestroy();
    else s.destroy();
  },
  close: () => conn.close(),
  onGone: (cb) => conn.stream.once('close', () => {
    const s = conn.stream;
    if (!(s.readableEnded && s.writableFinished)) cb();
  }),
});

/** A socket of its own, connected to a datagram target: replies come back on it alone. */
function datagramEnd(sock: DatagramSocket): End {
  return {
    read: async (o) => {
      try {
        return (await sock.recvFrom(o)).data;
      } catch (err) {
        if (err instanceof NetError && err.code === Codes.CLOSED) return null;
        throw err;
      }
    },
    write: (d) => sock.send(d),
    end: async () => void setTimeout(() => void sock.close(), GRACE).unref(),
    abort: () => void sock.close(),
    reset: () => void sock.close(),
    close: () => sock.close(),
    // Its read() ends the session when the socket closes.
    onGone: () => {},
  };
}

async function openTarget(to: Address, o: RelayOptions): Promise<End> {
  if (isStreamNetwork(to.network)) {
    const conn = await dial(to, { signal: AbortSignal.timeout(o.dialTimeout ?? 10_000), tls: o.targetTls });
    sendAtOnce(conn); // the client's side is serve()'s, which does the same
    return connEnd(conn);
  }
  return datagramEnd(await bindTo(to));
}

/** A session's two sides: the client, and the target it was relayed to. */
type Side = 'client' | 'target';
const otherSide = (side: Side): Side => (side === 'client' ? 'target' : 'client');

/**
 * Copies `side`'s `from` to `to` until EOF, then passes the half-close on. `await to.write` is the backpressure.
 * A side that fails (reading from it, or writing to it) is told to the session, which knows what is still owed.
 */
async function pump(from: End, to: End, side: Side, s: Session): Promise<void> {
  const other = otherSide(side);
  let failing = side;
  try {
    for (let chunk = await from.read(); chunk !== null; chunk = await from.read()) {
      s.active = true;
      if (s.tap) s.tap({ type: 'data', from: side, client: s.client, data: chunk });
      s.recording?.data(side === 'client', chunk);
      failing = other;
      await to.write(chunk);
      failing = side;
    }
    s.recording?.end(side === 'client');
    failing = other;
    await to.end();
  } catch (err) {
    s.failed(failing, err as Error);
  }
}

/**
 * One client's session: both directions, closed together. An idle timeout cuts both sides; a side's error ends both
 * once what an impaired direction already holds for the other side has gone (see failed()).
 */
class Session {
  /** Set by the pumps on every chunk; the idle timer clears it each period. */
  active = false;
  /** Datagrams from the client dropped because the target side was behind (datagram senders only). */
  dropped = 0;
  tap: ((e: RelayEvent) => void) | undefined;
  /** The session in the relay's pcapng recording, if it has one. */
  recording: Conversation | undefined;
  /** The client's account with the server's budget: charged what the session's impairments hold. */
  account: Account | undefined;
  /** What the impairments did in this session (see core/impair.ts); `totals` are the relay's. */
  readonly counts = noneImpaired();
  private timer: NodeJS.Timeout | undefined;
  private closer: NodeJS.Timeout | undefined;
  private ends = new Map<Side, End>();
  /** The impaired directions, by the side each writes to. */
  private links = new Map<Side, Link>();
  private stopped = false;
  private failure: Error | undefined;
  /** The side that failed first, while what is owed to the other is delivered (see failed()). */
  private gone: Side | undefined;

  /** `number`: the session's place in its relay's order, for the impairments' seeds. */
  constructor(readonly client: Address | null, private o: RelayOptions, idle: number | undefined, private number: number,
    private totals: ImpairedCounts) {
    if (o.tap) this.tap = o.onEvent;
    if (idle) {
      // One timer per idle period, not per chunk. An idle session simply ends (a datagram sender's has no
      // other way to).
      this.timer = setInterval(() => {
        if (!this.active) this.stop();
        this.active = false;
      }, idle);
    }
  }

  /** Ends the session at once, both sides; with `err` (the first failure, not one the stop itself caused), it fails. */
  stop = (err?: Error): void => {
    if (err && !this.stopped) this.failure = err;
    this.cut('abort');
  };

  /** An impairment's reset: both sides at once, TCP ones with an RST. */
  reset(): void {
    this.cut('reset');
  }

  private cut(how: 'abort' | 'reset'): void {
    this.stopped = true;
    for (const link of this.links.values()) link.abort();
    for (const end of this.ends.values()) end[how]();
  }

  /**
   * `side` failed (`err`: how) or was closed under the session. What the relay already took from it for the other
   * side still goes there, in order and at its times, as packets in flight on a real link would still arrive (a
   * server that answers and resets: its answer through `--delay` is not lost); then the session ends. Only an
   * impaired direction holds anything: otherwise it ends at once, as it does when both sides have failed.
   */
  failed(side: Side, err?: Error): void {
    if (err && !this.stopped) this.failure ??= err;
    if (this.stopped || this.gone === side) return;
    const owed = this.links.get(otherSide(side));
    if (this.gone || !owed) return this.stop();
    this.gone = side;
    this.links.get(side)?.abort();
    void owed.drain().then(() => this.stop());
  }

  /** An impaired direction could not write to its side. */
  writeFailed(link: Link, err: Error): void {
    for (const [side, l] of this.links) if (l === link) this.failed(side, err);
  }

  count(what: keyof ImpairedCounts, n = 1): void {
    this.counts[what] += n;
    this.totals[what] += n;
  }

  /**
   * The session as a conversation of the recording: TCP when the client came over a stream, UDP over datagrams,
   * on the real port of the target (else of the listening side), named by its real ends in a comment.
   */
  private record(pcap: PcapWriter, source: Address, target: Address, who: string): Conversation {
    return pcap.conversation(isStreamNetwork(source.network) ? 'tcp' : 'udp', portOf(target) || portOf(source),
      `relay session ${this.number}: ${peerName(this.client)}${who} on ${formatAddress(source)} -> ${formatAddress(target)}`);
  }

  /** `end` as written through this direction's impairments, if it has any. */
  private impaired(side: Side, messages: boolean): End {
    const end = this.ends.get(side)!;
    const toClient = side === 'client';
    const impair = this.o.impair;
    const imp = toClient ? impair?.toClient : impair?.toTarget;
    if (!impair || !imp) return end;
    const link = new Link(end, imp, messages, this, prng(linkSeed(impair.seed ?? 0, this.number, toClient)));
    this.links.set(side, link);
    if (imp.closeAfter !== undefined) {
      const ms = imp.closeAfter;
      clearTimeout(this.closer);
      this.closer = setTimeout(() => this.stop(), ms);
    }
    return { ...end, write: (d) => link.write(d), end: () => link.end() };
  }

  /** Adds a side; one closed under us (a reset, the server shutting down) takes the other with it. */
  private add(side: Side, end: End): End {
    this.ends.set(side, end);
    end.onGone(() => this.failed(side));
    if (this.stopped) end.abort();
    return end;
  }

  /**
   * `source`: the address the client came to (its network says whether the client's side carries messages, and
   * how a recording shows it); `who`: what else is known of the client (a unix peer's pid and uid), for a recording.
   */
  async run(client: End, source: Address, target: Address, who = ''): Promise<void> {
    this.add('client', client);
    try {
      const far = this.add('target', await openTarget(target, this.o));
      this.o.onEvent?.({ type: 'open', client: this.client, target });
      if (this.o.pcap) this.recording = this.record(this.o.pcap, source, target, who);
      await Promise.all([
        pump(client, this.impaired('target', rowOf(target.network).messages), 'client', this),
        pump(far, this.impaired('client', rowOf(source.network).messages), 'target', this),
      ]);
    } catch (err) {
      this.stop(err as Error);
    } finally {
      clearInterval(this.timer);
      clearTimeout(this.closer);
      if (this.failure) this.stop();
      // Not ended both ways in order: cut, as an RST shows it.
      this.recording?.reset(true);
      await Promise.all([...this.ends.values()].map((end) => end.close()));
      const c = this.counts;
      const impaired = c.lost + c.duplicated + c.reordered + c.stalled > 0;
      this.o.onEvent?.({ type: 'close', client: this.client, ...(this.failure && { error: this.failure }),
        ...(this.dropped > 0 && { dropped: this.dropped }), ...(impaired && { impaired: { ...c } }) });
    }
    if (this.failure) throw this.failure;
  }
}

/** The datagram side of a relay: one session per sender, fed from the one listening socket. */
class DatagramRelay implements RelayServer {
  readonly impaired = noneImpaired();
  private sessions = new Map<string, { inbox: Inbox<Buffer>; session: Session; done: Promise<void> }>();
  private loop: Promise<void>;
  /** Dropped by sessions that have ended; the open ones count their own. */
  private droppedBefore = 0;
  /** Sessions opened so far. */
  private opened = 0;
  /** What the sessions' impairments may hold for their senders (peerBytes, serverBytes, as serve's). */
  private budget: Budget;
  private closing: Promise<void> | undefined;
  private markClosed!: () => void;
  readonly closed = new Promise<void>((resolve) => (this.markClosed = resolve));

  constructor(private sock: DatagramSocket, private target: Address, private o: RelayOptions) {
    this.budget = new Budget(o);
    this.loop = this.receive();
  }

  get network() {
    return this.sock.network;
  }

  get addr() {
    return this.sock.localAddr;
  }

  /** Datagrams dropped: from senders whose target side was behind, and replies to senders that stopped reading. */
  get dropped(): number {
    let n = this.droppedBefore + this.sock.dropped;
    for (const s of this.sessions.values()) n += s.session.dropped;
    return n;
  }

  get refused(): number {
    return this.sock.refused;
  }

  private async receive(): Promise<void> {
    const onError = this.o.onError ?? reportToStderr;
    const max = this.o.maxConns ?? Infinity;
    for await (const { data, from } of this.sock) {
      const key = from ? formatAddress(from) : '';
      let s = this.sessions.get(key);
      if (!s) {
        if (this.sessions.size >= max) {
          onError(new NetError({ op: 'recv', network: this.sock.network, addr: from ?? undefined, code: 'ECONNREFUSED',
            detail: `dropped: ${max} sessions already open` }), null);
          continue;
        }
        s = this.open(key, from);
      }
      // A sender faster than its target loses datagrams here (counted), as UDP would, rather than growing memory.
      if (!s.inbox.offer(data)) s.session.dropped++;
    }
  }

  private open(key: string, from: Address | null) {
    const inbox = new Inbox<Buffer>(SESSION_QUEUE);
    const sock = this.sock;
    const session = new Session(from, this.o, this.o.idle ?? IDLE_MS, this.opened++, this.impaired);
    const account = session.account = this.budget.account();
    const client: End = {
      read: () => inbox.next(undefined, () => new Error('unreachable')),
      // A datagram from an unnamed unix socket cannot be answered: its replies go nowhere.
      write: (d) => (from ? sock.sendTo(d, from) : Promise.resolve()),
      end: async () => void setTimeout(() => inbox.end(), GRACE).unref(),
      abort: () => inbox.end(),
      reset: () => inbox.end(),
      close: async () => inbox.end(),
      onGone: () => {},
    };
    const entry = {
      inbox,
      session,
      done: session.run(client, this.sock.localAddr, this.target)
        .catch((err: Error) => (this.o.onError ?? reportToStderr)(err, null))
        .finally(() => {
          account.close();
          this.droppedBefore += session.dropped;
          this.sessions.delete(key);
        }),
    };
    this.sessions.set(key, entry);
    return entry;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.sock.close();
      await this.loop.catch(() => {});
      for (const s of this.sessions.values()) s.session.stop();
      await Promise.all([...this.sessions.values()].map((s) => s.done));
      this.markClosed();
    })();
    return this.closing;
  }
}

/** A unix peer's pid and uid, for a recording's comment ('' when the kernel does not say). */
async function peerText(conn: Conn): Promise<string> {
  const c = await conn.peerCredentials().catch(() => undefined);
  return c ? ` (pid ${c.pid}, uid ${c.uid}, gid ${c.gid})` : '';
}

/**
 * socat's core job: every client of `from` gets its own session with `to`, bytes both ways, half-close passed
 * through, both sides closed together. Any network to any network: a stream client's target connection, or a
 * datagram sender's own socket toward the target. A slow side pauses the fast one (streams), or its datagrams
 * are dropped at a bounded queue of 1024 per sender and counted in `dropped` (datagram senders).
 *
 * @example
 * const r = await relay('tcp://127.0.0.1:8080', 'unix:///run/app.sock')
 * await r.close()
 */
export async function relay(from: Address | string, to: Address | string, options: RelayOptions = {}): Promise<RelayServer> {
  const src = addressOrInherited('listen', from);
  const target = toAddress(to);
  const onError = options.onError ?? reportToStderr;
  if (options.targetTls && !isStreamNetwork(target.network)) throw noTls('dial', target.network);
  if (options.impair) {
    const problem = impairmentProblem(options.impair.toTarget, rowOf(target.network).messages, `the target's ${target.network}`)
      ?? impairmentProblem(options.impair.toClient, rowOf(src.network).messages, `the clients' ${src.network}`);
    if (problem) throw invalid('listen', `impairment: ${problem}`, src.network, src);
    // One seed for the relay, so that each session's draws follow from it (and are repeatable when it is given).
    options = { ...options, impair: { ...options.impair, seed: options.impair.seed ?? (Math.random() * 2 ** 32) >>> 0 } };
  }
  if (!isStreamNetwork(src.network)) {
    if (options.tls) throw noTls('bind', src.network);
    // The relay records its sessions itself, each as one conversation: not its listening socket's traffic too.
    return new DatagramRelay(await bind(src, { ...options, pcap: undefined }), target, options);
  }
  let sessions = 0;
  const impaired = noneImpaired();
  const server = await serve(src, async (ex) => {
    const conn = ex as Conn;
    const session = new Session(conn.remoteAddr, options, options.idle, sessions++, impaired);
    session.account = (conn as StreamConn).account;
    const who = options.pcap && rowOf(conn.network).credentials ? await peerText(conn) : '';
    await session.run(connEnd(conn), conn.localAddr, target, who).catch((err: Error) => {
      // The client's side is already closed; report and let serve() carry on.
      onError(err, ex);
    });
  }, { ...options, idle: undefined, pcap: undefined }); // the session times out both of its sides itself, and records itself
  return Object.assign(server, { impaired });
}
