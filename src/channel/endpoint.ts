/**
 * The transport half of every channel: listening (accepting connections, or hearing datagram peers) or dialling
 * (one connection, or one connected datagram socket, redialled with backoff when it drops). It keeps the pipes and
 * their send queues; the pattern on top (plain messages, request/reply, publish/subscribe) reads and writes
 * through it.
 */
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  addressOrInherited, bind, bindTo, dial, listen, plainAddress, raiseDescriptorLimit, withNativeReading,
} from '../api.js';
import { formatAddress, type Address } from '../core/address.js';
import {
  Budget, defaultMaxPeers, descriptorNotices, evicted, EVICTED, fullRefusal, Notices, OUT_OF_FDS, REFUSED, SILENT, Slots, type BudgetOptions,
} from '../core/budget.js';
import { closedError, Codes, invalid, NetError, timedOut, tooLarge } from '../core/errors.js';
import { isStreamNetwork, rowOf, type Network } from '../core/networks.js';
import { reportToStderr } from '../core/serve.js';
import type { StreamConn } from '../core/stream.js';
import type { BindOptions, Conn, DatagramSocket, DialOptions, Listener, ListenOptions, PeerCredentials } from '../core/types.js';
import { DEFAULT_MAX_MESSAGE } from './frame.js';
import { Outbox, type Handed, type HighWater, type Policy } from './outbox.js';
import { authenticate } from './authkey.js';
import { envelopeHead, isHeartbeat, Kind } from './envelope.js';
import { closeAll, ConnPipe, DatagramPipe, isFramed, peerOf, type ChannelPeer, type Pipe, type PipeOwner } from './pipe.js';

/** What every channel takes. */
export interface ChannelOptions {
  /** The largest message sent or received, checked before anything is allocated for it. Default 16 MiB. */
  maxMessage?: number;
  /** Per-peer send queue limits (a dialling channel has one queue, kept across reconnects). */
  highWater?: HighWater;
  /** What a full send queue does: see {@link Policy}. Default `wait` (publishers: `drop-newest`). */
  policy?: Policy;
  /** Told of every error that does not belong to a call (a peer's bad message, a dropped connection); default: one stderr line. */
  onError?: (error: Error, peer: ChannelPeer | null) => void;
  /**
   * Stream transports: a shared key both sides must prove they hold before any message (Python's
   * `multiprocessing.connection` authkey handshake, both ways). A peer without it is refused (EACCES).
   */
  authkey?: string | Uint8Array;
}

/** Request/reply and publish/subscribe channels (plain channels have no room for heartbeats). */
export interface HeartbeatOptions {
  /**
   * Heartbeats (ZeroMQ's ZMTP PING/PONG) on request/reply and publish/subscribe channels, on every transport:
   * after this many ms without sending to a peer, a ping goes out (and every ping is answered); a peer not heard
   * from for three intervals is dead: its connection is closed (a dialling channel redials), a datagram peer is
   * forgotten. 0: no pings, and no peer is judged by its silence (pings are still answered). Default 5000.
   * Plain channels carry the bytes alone (Python's `send_bytes`), so they have none.
   */
  heartbeat?: number;
}

/**
 * A listening channel: any option of {@link listen} or {@link bind} (allow lists, TLS, socket file rights) applies,
 * and the byte budget of its peers (`peerBytes`, `serverBytes`: see the docs' "Limits").
 */
export interface ChannelListenOptions extends ChannelOptions, ListenOptions, BindOptions, BudgetOptions {
  /**
   * Peers kept at once (connections in their handshake included). When all are taken, a newcomer takes the place
   * of the connection silent longest since it came without sending a message; if every one has sent one, the
   * newcomer is refused. On datagram transports the longest-silent peer is forgotten. Default: what the descriptor
   * limit leaves room for (the soft limit, raised to the hard one at start, less 128), at most 65,536.
   */
  maxPeers?: number;
  /**
   * Milliseconds a new connection has to finish its handshake (TLS, authkey) and send its first message before it
   * is closed (an idle socktool peer sends a heartbeat after one interval, 5 s by default: keep this longer than
   * the peers' `heartbeat`). Default 10000 for repliers and publishers, whose peers speak first; 0 (never) for
   * plain channels, whose peers may only listen.
   */
  firstMessageTimeout?: number;
}

export interface ReconnectOptions {
  /** The first wait, in ms. Default 100. */
  initial?: number;
  /** Each failed attempt multiplies the wait by this. Default 1.6. */
  factor?: number;
  /** The longest wait, in ms. Default 5000. */
  max?: number;
}

/** A dialling channel: TLS and `local` as {@link dial} (or {@link bindTo} on datagram transports) takes them. */
export interface ChannelDialOptions extends ChannelOptions, DialOptions, Pick<BindOptions, 'recvQueue' | 'maxDatagram'> {
  /** Redial when the connection drops (waits are jittered ±20%). `false`: the channel closes with its connection. */
  reconnect?: ReconnectOptions | false;
  /** Resolve at once and connect in the background (retrying as after a drop), instead of failing when the first attempt does. */
  background?: boolean;
}

/** What a pattern does with its pipes. */
export interface Protocol extends PipeOwner {
  /** The pattern's frames are envelopes, so heartbeats can travel among them (see ChannelOptions.heartbeat). */
  readonly heartbeats?: boolean;
  /** A peer came (a connection, or a datagram address heard from for the first time). */
  attached?(pipe: Pipe): void;
  /** A peer went; `error` says why (undefined: it closed in order). */
  detached?(pipe: Pipe, error: Error | undefined): void;
}

/** What `retrying` events carry. */
export interface RetryEvent {
  /** Attempts that failed in a row (1 for the first retry after a drop). */
  attempt: number;
  /** The wait before the next attempt, in ms. */
  delay: number;
  error: Error | undefined;
}

/** A connection's place among a listening channel's peers, from its accept on (see Slots). */
interface Place {
  /** It has sent a message. */
  spoke: boolean;
  /** When it was accepted (Date.now()). */
  since: number;
  remote: Address;
  /** Closes what the connection is now (the accepted socket, or the pipe over it). */
  close(err: Error): void;
}

/** Datagram sends that mean the peer is gone (its socket closed, its file removed). */
const GONE = new Set(['ECONNREFUSED', 'ENOENT', 'ENOTCONN', 'EDESTADDRREQ']);
const FORGOTTEN = 'datagram peers forgotten, their heartbeats unanswered for three intervals';

/** The default heartbeat interval, in ms. */
export const HEARTBEAT_MS = 5000;
const PONG = envelopeHead(Kind.PONG, 0);
const NO_BODY = Buffer.alloc(0);

/** A connection that lasted this long was healthy: the next wait starts from the beginning again. */
const HEALTHY_MS = 1000;

export class Endpoint extends EventEmitter {
  readonly network: Network;
  /** The listening address (its concrete port or path), or the dialled one. */
  addr: Address;
  readonly pipes = new Set<Pipe>();
  /** Connections refused by the allow list, or with every place taken by peers that have spoken. */
  private refusedOver = 0;
  /** A listening channel's peers' byte budget and their places (stream transports). */
  private budget: Budget | undefined;
  private slots: Slots<Place> | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** Says when descriptors run out (a listening channel on a stream transport). */
  private fds: ReturnType<typeof descriptorNotices> | undefined;
  /** Refusals, evictions and silent peers closed, told a few lines per flood. */
  private notices = new Notices((err) => this.report(err, null));
  /** What pipes hand their frames to: the pattern, behind the heartbeat's filter when it has heartbeats. */
  private owner: PipeOwner;
  private readonly heartbeat: number;
  private beating: NodeJS.Timeout | undefined;
  private ping: Buffer;
  private droppedGone = 0;
  private byAddress = new Map<string, DatagramPipe>();
  private listener: Listener | undefined;
  private sock: DatagramSocket | undefined;
  /** A dialling channel's one queue. */
  private outbox: Outbox | undefined;
  private stop = new AbortController();
  private closing: Promise<void> | undefined;
  private readonly target: Address;
  private readonly policy: Policy;
  readonly maxMessage: number;
  private maxPeers: number;
  private readonly tls: boolean;
  private readonly authkey: Buffer | undefined;

  /**
   * Parses `addr` and checks the options; {@link Endpoint.start} opens the socket. `firstMessageTimeout`: the
   * pattern's default (see {@link ChannelListenOptions.firstMessageTimeout}).
   */
  constructor(private op: 'listen' | 'dial', addr: Address | string, private protocol: Protocol,
    private options: ChannelListenOptions & ChannelDialOptions & HeartbeatOptions, defaultPolicy: Policy, private firstMessageTimeout = 0) {
    super();
    const a = addressOrInherited(op, addr);
    this.target = a;
    this.network = a.network;
    this.addr = plainAddress(a);
    this.policy = options.policy ?? defaultPolicy;
    this.maxMessage = options.maxMessage ?? DEFAULT_MAX_MESSAGE;
    this.maxPeers = options.maxPeers ?? 0; // 0: set at start, from the descriptor limit
    this.tls = options.tls !== undefined;
    if (this.tls && !isStreamNetwork(a.network)) {
      throw invalid(op, `TLS needs a stream network, not ${a.network}`, a.network, a);
    }
    if (options.authkey !== undefined && !isStreamNetwork(a.network)) {
      throw invalid(op, `an authkey handshake needs a stream network, not ${a.network}`, a.network, a);
    }
    this.authkey = options.authkey === undefined ? undefined : Buffer.from(options.authkey);
    if (options.heartbeat !== undefined && !protocol.heartbeats) {
      throw invalid(op, 'plain channels carry the payload alone (as Python\'s send_bytes): they have no heartbeats', a.network, a);
    }
    this.heartbeat = protocol.heartbeats ? options.heartbeat ?? HEARTBEAT_MS : 0;
    if (!Number.isSafeInteger(this.heartbeat) || this.heartbeat < 0) {
      throw invalid(op, `heartbeat must be a whole number of ms, not ${options.heartbeat}`, a.network, a);
    }
    this.ping = envelopeHead(Kind.PING, this.heartbeat);
    this.owner = protocol.heartbeats ? {
      received: (pipe, frame, fds, peer) => {
        pipe.framesIn++;
        if (!isHeartbeat(frame)) return protocol.received(pipe, frame, fds, peer);
        closeAll(fds);
        if (frame[0] === Kind.PING) pipe.write(PONG, NO_BODY, undefined).catch(() => {});
      },
      oversize: (pipe, start) => protocol.oversize?.(pipe, start),
    } : protocol;
    if (op === 'dial') {
      // A datagram peer that went away (a restarted server) gets what it refused again, once redialled.
      this.outbox = new Outbox(a.network, this.policy, options.highWater, (err) => this.writeFailed(this.current(), err),
        !isStreamNetwork(a.network));
    }
  }

  /**
   * Listening: listens on (or binds) the address and takes peers until closed. Dialling: resolves once connected
   * (at once with `background`), and redials whenever the connection drops.
   */
  async start(): Promise<void> {
    const a = this.target;
    if (this.heartbeat > 0) {
      this.beating = setInterval(() => this.beat(), Math.max(10, this.heartbeat / 4));
      this.beating.unref();
    }
    if (this.op === 'dial') {
      await new Promise<void>((resolve, reject) => {
        if (this.options.background) resolve();
        void this.dialLoop(a, this.options.background ? undefined : (err) => (err ? reject(err) : resolve()));
      });
      return;
    }
    const nofile = raiseDescriptorLimit();
    this.maxPeers ||= defaultMaxPeers(nofile);
    if (isStreamNetwork(a.network)) {
      this.budget = new Budget(this.options);
      this.slots = new Slots(this.maxPeers, (place) => place.spoke);
      this.listener = await listen(a, this.options);
      this.addr = this.listener.addr;
      const first = this.options.firstMessageTimeout ?? this.firstMessageTimeout;
      if (first > 0) this.sweeper = this.sweepSilent(first);
      this.fds = descriptorNotices(this.network, () => this.addr, nofile, (err) => this.report(err, null));
      void this.acceptLoop(this.listener);
    } else {
      this.sock = await bind(a, this.options);
      this.addr = this.sock.localAddr;
      void this.readDatagrams(this.sock, undefined);
    }
  }

  /**
   * The heartbeat's look at every peer, four times an interval: a peer not heard from for about three intervals
   * is dead; one not written to for an interval gets a ping (which it answers, so a live peer is always heard).
   */
  private beat(): void {
    const now = Date.now();
    const every = this.heartbeat;
    for (const pipe of this.pipes) {
      const b = pipe.beat;
      if (pipe.framesIn !== b.framesIn) {
        b.framesIn = pipe.framesIn;
        b.heardAt = now;
      } else if (now - b.heardAt >= 3 * every - every / 4) {
        const err = timedOut('recv', `no heartbeat from the peer for ${now - b.heardAt} ms (3 intervals of ${every} ms): it is gone`,
          this.network, pipe.peer.addr ?? undefined);
        // Datagram peers come and go without a word: forgetting them is churn, told a few lines per flood.
        if (pipe instanceof DatagramPipe && !this.dialling) this.notices.say(FORGOTTEN, err);
        pipe.close(err);
        continue;
      }
      if (pipe.framesOut !== b.framesOut) {
        b.framesOut = pipe.framesOut;
        b.sentAt = now;
      } else if (now - b.sentAt >= every) this.sendPing(pipe);
    }
  }

  private sendPing(pipe: Pipe): void {
    pipe.write(this.ping, NO_BODY, undefined).catch(() => {});
  }

  /** Connections or datagrams refused: by the allow list, or over `maxPeers`. */
  get refused(): number {
    return this.refusedOver + (this.listener?.refused ?? this.sock?.refused ?? 0);
  }

  /** Messages dropped by the queue policy, over all peers (and those owed to peers that went away). */
  get dropped(): number {
    let n = this.droppedGone + (this.outbox?.dropped ?? 0) + (this.sock?.dropped ?? 0);
    if (!this.outbox) for (const p of this.pipes) n += p.outbox.dropped;
    return n;
  }

  /** Sends to one peer (through the dialling channel's queue, whatever its connection). */
  sendTo(pipe: Pipe, head: Buffer | undefined, body: Uint8Array, fds?: readonly number[], handed?: Handed): Promise<void> {
    if (pipe instanceof DatagramPipe && pipe.unnamed) {
      return Promise.reject(new NetError({ op: 'send', network: this.network, code: Codes.UNNAMED_PEER }));
    }
    return this.enqueue(pipe.outbox, head, body, fds, handed);
  }

  /** Sends to the dialled peer, waiting in the queue while disconnected. */
  send(head: Buffer | undefined, body: Uint8Array, fds?: readonly number[], handed?: Handed): Promise<void> {
    return this.enqueue(this.outbox!, head, body, fds, handed);
  }

  private enqueue(outbox: Outbox, head: Buffer | undefined, body: Uint8Array, fds: readonly number[] | undefined,
    handed: Handed | undefined): Promise<void> {
    const size = (head?.length ?? 0) + body.length;
    if (size > this.maxMessage) return Promise.reject(tooLarge('send', this.network, size, this.maxMessage));
    if (size === 0 && this.network === 'unixpacket' && !this.tls) {
      return Promise.reject(invalid('send', 'an empty message cannot travel on unixpacket (the receiver would read it as the end of the connection)', this.network, this.addr));
    }
    if (this.closing) return Promise.reject(closedError('send', this.network, this.addr));
    return outbox.send(head, body, fds, handed);
  }

  /** Resolves once every send queue is empty and what was sent has left this process for the kernel (or failed). */
  async flush(): Promise<void> {
    await Promise.all([...this.pipes].map(async (p) => {
      await p.outbox.drained();
      await p.written();
    }));
    // A dialling channel between connections: its queue waits for the next one.
    if (this.outbox && this.pipes.size === 0) await this.outbox.drained();
  }

  /** Whether `pipe` is one of this channel's: a peer now, or an unnamed datagram sender (which cannot be answered). */
  owns(pipe: Pipe): boolean {
    return this.pipes.has(pipe) || (pipe instanceof DatagramPipe && pipe.unnamed && pipe.socket === this.sock);
  }

  /** Whether close() has begun. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  get dialling(): boolean {
    return this.outbox !== undefined;
  }

  /** The dialling channel's pipe now, if connected. */
  current(): Pipe | undefined {
    for (const p of this.pipes) return p;
    return undefined;
  }

  report(error: Error, peer: ChannelPeer | null): void {
    if (this.closing) return;
    if (this.options.onError) this.options.onError(error, peer);
    else reportToStderr(error, null);
  }

  private attach(pipe: Pipe): void {
    pipe.outbox = this.outbox ?? new Outbox(this.network, this.policy, this.options.highWater, (err) => this.writeFailed(pipe, err));
    pipe.outbox.account = pipe.account;
    this.pipes.add(pipe);
    pipe.outbox.attach(pipe);
    this.protocol.attached?.(pipe);
    this.emit('connected', pipe.peer);
  }

  private detach(pipe: Pipe, err: Error | undefined): void {
    if (!this.pipes.delete(pipe)) return;
    pipe.account?.close();
    if (this.outbox) this.outbox.detach();
    else {
      this.droppedGone += pipe.outbox.queued;
      pipe.outbox.fail(err ?? closedError('send', this.network, pipe.peer.addr ?? undefined));
    }
    if (pipe instanceof DatagramPipe && pipe.peer.addr) this.byAddress.delete(formatAddress(pipe.peer.addr));
    this.protocol.detached?.(pipe, err);
    this.emit('disconnected', pipe.peer, err);
    if (err && !this.closing && !this.notices.has(err)) this.report(err, pipe.peer);
  }

  /** A write failed: on datagram transports, a peer that is gone is forgotten (a dialling channel redials); true then. */
  private writeFailed(pipe: Pipe | undefined, err: unknown): boolean {
    if (!(pipe instanceof DatagramPipe) || !GONE.has((err as NetError).code)) return false;
    pipe.close(err as Error);
    return true;
  }

  private async acceptLoop(listener: Listener): Promise<void> {
    for (;;) {
      let conn: Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if ((err as NetError).code === Codes.CLOSED) return;
        // Descriptors ran out: said once until an accept works (the listener pauses meanwhile, so nothing spins).
        if (OUT_OF_FDS.has((err as NetError).code)) this.fds!.failed((err as NetError).code);
        else this.report(err as Error, null);
        await sleep(10);
        continue;
      }
      void this.serveConn(conn);
    }
  }

  /** Closes peers that have not sent a message within `ms` of their accept (one timer for all, a few looks per period). */
  private sweepSilent(ms: number): NodeJS.Timeout {
    const timer = setInterval(() => {
      const now = Date.now();
      for (const place of this.slots!) {
        if (place.spoke || now - place.since < ms) continue;
        place.spoke = true; // closed once
        const err = timedOut('accept', `no message within ${ms} ms of connecting: closed`, this.network, place.remote);
        this.notices.say(SILENT, err);
        place.close(err);
      }
    }, Math.max(10, Math.min(1000, ms / 4)));
    timer.unref();
    return timer;
  }

  private async serveConn(accepted: Conn): Promise<void> {
    const place: Place = { spoke: false, since: Date.now(), remote: accepted.remoteAddr, close: (err) => accepted.stream.destroy(err) };
    const evict = (silent: Place) => {
      const err = evicted(this.network, silent.remote);
      this.notices.say(EVICTED, err);
      silent.close(err);
    };
    if (!this.slots!.admit(place, evict)) {
      this.refusedOver++;
      accepted.stream.destroy();
      this.notices.say(REFUSED, fullRefusal(this.network, accepted.remoteAddr, this.maxPeers, 'peer'));
      return;
    }
    try {
      let pipe: ConnPipe;
      try {
        pipe = await this.connPipe(accepted, place);
      } catch (err) {
        this.refusedOver += (err as NetError).code === 'EACCES' ? 1 : 0;
        this.report(err as Error, null);
        return;
      }
      place.close = (err) => pipe.close(err);
      pipe.onFirstMessage = () => (place.spoke = true);
      await this.runConn(pipe);
    } finally {
      this.slots!.free(place);
    }
  }

  /**
   * A pipe over a new connection: read natively on unix (descriptors at any point), with the peer's credentials,
   * after the authkey handshake when there is a key. The connection is closed if any of it fails. `place`: a
   * listening channel's, told what to close meanwhile; its peer's account is charged for what it sends.
   */
  private async connPipe(conn: Conn, place?: Place): Promise<ConnPipe> {
    let c = conn;
    try {
      c = this.tls ? conn : withNativeReading(conn);
      if (place) {
        place.close = (err) => c.stream.destroy(err);
        (c as StreamConn).account = this.budget!.account();
      }
      // Each frame goes out as soon as it is written: Nagle would hold a frame's last segment back until the peer
      // acknowledged the rest (ZeroMQ and nng turn it off too).
      if (c.network === 'tcp' && c.stream instanceof Socket) c.stream.setNoDelay(true);
      const credentials = rowOf(c.network).credentials && !this.tls ? await c.peerCredentials().catch(() => undefined) : undefined;
      const remote = 'path' in c.remoteAddr && c.remoteAddr.path === '' ? null : c.remoteAddr;
      const after = this.authkey && await authenticate(c, this.authkey, this.op, isFramed(c.network, this.tls));
      const pipe = new ConnPipe(c, peerOf(this.network, remote, credentials), this.tls, this.maxMessage, after || undefined);
      pipe.account = (c as StreamConn).account;
      return pipe;
    } catch (err) {
      void c.close();
      throw err;
    }
  }

  private async runConn(pipe: ConnPipe): Promise<Error | undefined> {
    if (this.closing) {
      pipe.close();
      return undefined;
    }
    this.attach(pipe);
    await pipe.run(this.owner);
    const err = await pipe.ended;
    this.detach(pipe, err);
    return err;
  }

  /**
   * Reads a datagram socket: a listening one's (each address heard from becomes a pipe) or a dialling one's
   * (everything is from `own`, its connected peer).
   */
  private async readDatagrams(sock: DatagramSocket, own: DatagramPipe | undefined): Promise<void> {
    try {
      for await (const d of sock) {
        const pipe = own ?? this.datagramPeer(sock, d.from, d);
        if (d.truncated || d.data.length > this.maxMessage) {
          closeAll(d.fds);
          this.protocol.oversize?.(pipe, d.data.subarray(0, 16));
          const size = d.truncated ? `more than ${d.data.length}` : d.data.length;
          this.report(tooLarge('recv', this.network, size, this.maxMessage, d.from ?? undefined), pipe.peer);
          continue;
        }
        const r = this.owner.received(pipe, d.data, d.fds, pipe.peer);
        if (r) await r;
      }
    } catch (err) {
      if (own) own.close(err as Error);
      else this.report(err as Error, null);
      return;
    }
    own?.close();
  }

  /**
   * The pipe of a datagram sender, made when first heard from. An unnamed sender (each datagram may be another
   * one, known by its credentials) gets a pipe of its own that is never kept and cannot be answered.
   */
  private datagramPeer(sock: DatagramSocket, from: Address | null, d: { credentials?: PeerCredentials }): DatagramPipe {
    if (from === null) return new DatagramPipe(sock, null, peerOf(this.network, null, d.credentials), false);
    const key = formatAddress(from);
    let pipe = this.byAddress.get(key);
    if (pipe) {
      // Most recently heard last: the first in the map is the longest silent.
      this.byAddress.delete(key);
      this.byAddress.set(key, pipe);
      return pipe;
    }
    if (this.byAddress.size >= this.maxPeers) this.byAddress.values().next().value!.close();
    pipe = new DatagramPipe(sock, from, peerOf(this.network, from, d.credentials), false);
    this.byAddress.set(key, pipe);
    this.attach(pipe);
    void pipe.ended.then((err) => this.detach(pipe!, err));
    return pipe;
  }

  private async dialLoop(a: Address, first: ((err?: Error) => void) | undefined): Promise<void> {
    const r = this.options.reconnect === false ? undefined : this.options.reconnect ?? {};
    const initial = r?.initial ?? 100;
    let delay = initial;
    let attempt = 0;
    while (!this.closing) {
      let pipe: Pipe;
      try {
        pipe = await this.connect(a);
      } catch (err) {
        if (this.closing) break;
        if (first) {
          first(err as Error);
          void this.close();
          return;
        }
        if (!r) break;
        attempt++;
        delay = await this.backoff(attempt, delay, r, err as Error);
        continue;
      }
      first?.();
      first = undefined;
      attempt = 0;
      const since = Date.now();
      const err = pipe instanceof ConnPipe ? await this.runConn(pipe) : await this.runDatagram(pipe as DatagramPipe);
      if (this.closing) break;
      if (!r) {
        void this.close();
        break;
      }
      if (Date.now() - since >= HEALTHY_MS) delay = initial;
      else delay = await this.backoff(1, delay, r, err);
    }
    first?.(closedError('dial', this.network, this.addr));
  }

  /** Waits `delay` (±20%) and says so; the next delay. */
  private async backoff(attempt: number, delay: number, r: ReconnectOptions, error: Error | undefined): Promise<number> {
    const wait = Math.round(delay * (0.8 + 0.4 * Math.random()));
    this.emit('retrying', { attempt, delay: wait, error } satisfies RetryEvent);
    await sleep(wait, undefined, { signal: this.stop.signal }).catch(() => {});
    return Math.min(delay * (r.factor ?? 1.6), r.max ?? 5000);
  }

  private async connect(a: Address): Promise<Pipe> {
    const o = this.options;
    const signal = o.signal ? AbortSignal.any([o.signal, this.stop.signal]) : this.stop.signal;
    if (isStreamNetwork(a.network)) return this.connPipe(await dial(a, { tls: o.tls, local: o.local, signal }));
    const sock = await bindTo(a, { local: o.local, recvQueue: o.recvQueue, maxDatagram: o.maxDatagram });
    return new DatagramPipe(sock, null, peerOf(this.network, sock.remoteAddr), true);
  }

  private async runDatagram(pipe: DatagramPipe): Promise<Error | undefined> {
    this.attach(pipe);
    void this.readDatagrams(pipe.socket, pipe);
    const err = await pipe.ended;
    this.detach(pipe, err);
    return err;
  }

  /** Stops listening or redialling and closes every peer; what is still queued fails with ERR_SOCKTOOL_CLOSED. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stop.abort();
      clearInterval(this.sweeper);
      clearInterval(this.beating);
      this.fds?.stop();
      this.notices.flush();
      const closed = closedError('send', this.network, this.addr);
      this.outbox?.fail(closed);
      await Promise.all([this.listener?.close(), this.sock?.close()]);
      for (const pipe of [...this.pipes]) pipe.close();
      this.emit('close');
    })();
    return this.closing;
  }
}
