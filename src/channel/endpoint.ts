/**
 * The transport half of every channel, as nng splits it: a listening endpoint (listening.ts: accepting
 * connections, or hearing datagram peers) or a dialling one (dialling.ts: one connection, or one connected
 * datagram socket, redialled with backoff when it drops), over what both do, here: checking the options, keeping
 * the pipes and their send queues, heartbeats, reading a connection or a datagram socket into the pattern on top
 * (plain messages, request/reply, publish/subscribe), and closing.
 */
import { EventEmitter } from 'node:events';
import { addressOrInherited, plainAddress, withNativeReading } from '../api.js';
import type { Address } from '../core/address.js';
import { Notices, type BudgetOptions } from '../core/budget.js';
import { closedError, Codes, invalid, NetError, timedOut, tooLarge } from '../core/errors.js';
import { isStreamNetwork, rowOf, type Network } from '../core/networks.js';
import { reportToStderr } from '../core/serve.js';
import { sendAtOnce, type StreamConn } from '../core/stream.js';
import type { BindOptions, Conn, Datagram, DatagramSocket, DialOptions, ListenOptions } from '../core/types.js';
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

/** Datagram sends that mean the peer is gone (its socket closed, its file removed). */
const GONE = new Set(['ECONNREFUSED', 'ENOENT', 'ENOTCONN', 'EDESTADDRREQ']);
/**
 * How a stream peer's connection ends when the peer went away (exited, closed with data unread, was killed): routine
 * for a channel (a subscriber that had its count, a requester that gave up), told by `disconnected`, not reported.
 */
const PEER_LEFT = new Set(['ECONNRESET', 'EPIPE']);

/** The default heartbeat interval, in ms. */
const HEARTBEAT_MS = 5000;
const PONG = envelopeHead(Kind.PONG, 0);
const NO_BODY = Buffer.alloc(0);

/**
 * What listening and dialling endpoints share. {@link Endpoint.start} opens the socket; the subclass decides what a
 * peer is, what queue it writes through, and what closing stops.
 */
export abstract class Endpoint extends EventEmitter {
  readonly network: Network;
  /** The listening address (its concrete port or path), or the dialled one. */
  addr: Address;
  readonly pipes = new Set<Pipe>();
  /** Refusals, evictions and silent peers closed, told a few lines per flood. */
  protected notices = new Notices((err) => this.report(err, null));
  /** What pipes hand their frames to: the pattern, behind the heartbeat's filter when it has heartbeats. */
  protected owner: PipeOwner;
  private readonly heartbeat: number;
  private beating: NodeJS.Timeout | undefined;
  private ping: Buffer;
  protected stop = new AbortController();
  private closing: Promise<void> | undefined;
  protected readonly target: Address;
  protected readonly policy: Policy;
  readonly maxMessage: number;
  protected readonly tls: boolean;
  private readonly authkey: Buffer | undefined;

  /** Parses `addr` and checks the options; `op`: what errors of the address and options say (listen or dial). */
  constructor(protected readonly op: 'listen' | 'dial', addr: Address | string, protected readonly protocol: Protocol,
    protected readonly options: ChannelOptions & HeartbeatOptions & { tls?: unknown }, defaultPolicy: Policy) {
    super();
    const a = addressOrInherited(op, addr);
    this.target = a;
    this.network = a.network;
    this.addr = plainAddress(a);
    this.policy = options.policy ?? defaultPolicy;
    this.maxMessage = options.maxMessage ?? DEFAULT_MAX_MESSAGE;
    this.tls = options.tls !== undefined;
    if (this.tls && !isStreamNetwork(a.network)) {
      throw invalid(op, `TLS needs a stream network, not ${a.network}`, a.network, a);
    }
    if (options.authkey !== undefined && !isStreamNetwork(a.network)) {
      throw invalid(op, `an authkey handshake needs a stream network, not ${a.network}`, a.network, a);
    }
    // An authkey given as undefined or empty is a mistake (an unset variable), never a quiet "no authentication".
    if ('authkey' in options && (options.authkey === undefined || Buffer.byteLength(options.authkey) === 0)) {
      throw invalid(op, `authkey is ${options.authkey === undefined ? 'undefined' : 'empty'}: give a key, or leave the option out for none`, a.network, a);
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
  }

  /** Starts the heartbeat, then opens the socket (see the subclasses). */
  async start(): Promise<void> {
    if (this.heartbeat > 0) {
      this.beating = setInterval(() => this.beat(), Math.max(10, this.heartbeat / 4));
      this.beating.unref();
    }
    await this.open();
  }

  /** Listens or dials. */
  protected abstract open(): Promise<void>;
  /** The queue a new peer's messages go out through. */
  protected abstract outboxFor(pipe: Pipe): Outbox;
  /** A peer went: what its queue held is failed or kept for the next connection. */
  protected abstract released(pipe: Pipe, err: Error | undefined): void;
  /** Stops taking or making peers, before every pipe is closed. */
  protected abstract stopOwn(closed: NetError): Promise<void>;

  /** Messages dropped by the queue policy. */
  abstract get dropped(): number;

  /** Connections or datagrams refused (only a listening endpoint refuses). */
  get refused(): number {
    return 0;
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
        this.peerDead(pipe, err);
        pipe.close(err);
        continue;
      }
      if (pipe.framesOut !== b.framesOut) {
        b.framesOut = pipe.framesOut;
        b.sentAt = now;
      } else if (now - b.sentAt >= every) pipe.write(this.ping, NO_BODY, undefined).catch(() => {});
    }
  }

  /** A peer is judged dead by its silence, and is about to be closed with `err`. */
  protected peerDead(_pipe: Pipe, _err: NetError): void {}

  /** Sends to one peer (through the dialling channel's queue, whatever its connection). */
  sendTo(pipe: Pipe, head: Buffer | undefined, body: Uint8Array, fds?: readonly number[], handed?: Handed): Promise<void> {
    if (pipe instanceof DatagramPipe && pipe.unnamed) {
      return Promise.reject(new NetError({ op: 'send', network: this.network, code: Codes.UNNAMED_PEER }));
    }
    return this.enqueue(pipe.outbox, head, body, fds, handed);
  }

  protected enqueue(outbox: Outbox, head: Buffer | undefined, body: Uint8Array, fds: readonly number[] | undefined,
    handed: Handed | undefined): Promise<void> {
    const size = (head?.length ?? 0) + body.length;
    if (size > this.maxMessage) return Promise.reject(tooLarge('send', this.network, size, this.maxMessage));
    if (size === 0 && rowOf(this.network).type === 'SOCK_SEQPACKET' && !this.tls) {
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
  }

  /** Whether `pipe` is one of this channel's peers now. */
  owns(pipe: Pipe): boolean {
    return this.pipes.has(pipe);
  }

  /** Whether close() has begun. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  report(error: Error, peer: ChannelPeer | null): void {
    if (this.closing) return;
    if (this.options.onError) this.options.onError(error, peer);
    else reportToStderr(error, null);
  }

  protected attach(pipe: Pipe): void {
    pipe.outbox = this.outboxFor(pipe);
    pipe.outbox.account = pipe.account;
    this.pipes.add(pipe);
    pipe.outbox.attach(pipe);
    this.protocol.attached?.(pipe);
    this.emit('connected', pipe.peer);
  }

  protected detach(pipe: Pipe, err: Error | undefined): void {
    if (!this.pipes.delete(pipe)) return;
    pipe.account?.close();
    this.released(pipe, err);
    this.protocol.detached?.(pipe, err);
    this.emit('disconnected', pipe.peer, err);
    if (err && !this.closing && !this.notices.has(err) && !PEER_LEFT.has((err as NetError).code)) this.report(err, pipe.peer);
  }

  /** A write failed: on datagram transports, a peer that is gone is forgotten (a dialling channel redials); true then. */
  protected writeFailed(pipe: Pipe | undefined, err: unknown): boolean {
    if (!(pipe instanceof DatagramPipe) || !GONE.has((err as NetError).code)) return false;
    pipe.close(err as Error);
    return true;
  }

  /**
   * A pipe over a new connection: read natively on unix (descriptors at any point), with the peer's credentials,
   * after the authkey handshake when there is a key (given up when `signal` aborts). The connection is closed if any
   * of it fails. `taken`: told the connection as it will be read (a listening endpoint charges its peer's account).
   */
  protected async connPipe(conn: Conn, taken?: (c: Conn) => void, signal?: AbortSignal): Promise<ConnPipe> {
    let c = conn;
    try {
      c = this.tls ? conn : withNativeReading(conn);
      taken?.(c);
      sendAtOnce(c); // each frame goes out as soon as it is written
      const credentials = rowOf(c.network).credentials && !this.tls ? await c.peerCredentials().catch(() => undefined) : undefined;
      const remote = 'path' in c.remoteAddr && c.remoteAddr.path === '' ? null : c.remoteAddr;
      const after = this.authkey && await authenticate(c, this.authkey, this.op, isFramed(c.network, this.tls), undefined, signal);
      const pipe = new ConnPipe(c, peerOf(this.network, remote, credentials), this.tls, this.maxMessage, after || undefined);
      pipe.account = (c as StreamConn).account;
      return pipe;
    } catch (err) {
      void c.close();
      throw err;
    }
  }

  /**
   * Runs a connection's pipe until it ends; why it ended. A chain of promises, not an async function: every idle
   * connection waits in here, and each suspended async function would hold about 0.5 KiB of heap for it.
   */
  protected runConn(pipe: ConnPipe): Promise<Error | undefined> {
    if (this.closing) {
      pipe.close();
      return Promise.resolve(undefined);
    }
    this.attach(pipe);
    return pipe.run(this.owner).then(() => pipe.ended).then((err) => {
      this.detach(pipe, err);
      return err;
    });
  }

  /**
   * Reads a datagram socket into the pattern, each datagram from the pipe `pipeOf` says (a listening endpoint's
   * peer by address; a dialling one's connected peer). An oversize datagram is dropped and reported. Rejects when
   * reading fails.
   */
  protected async readDatagrams(sock: DatagramSocket, pipeOf: (d: Datagram) => DatagramPipe): Promise<void> {
    for await (const d of sock) {
      const pipe = pipeOf(d);
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
  }

  /** Stops listening or redialling and closes every peer; what is still queued fails with ERR_SOCKTOOL_CLOSED. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stop.abort();
      clearInterval(this.beating);
      this.notices.flush();
      await this.stopOwn(closedError('send', this.network, this.addr));
      for (const pipe of [...this.pipes]) pipe.close();
      this.emit('close');
    })();
    return this.closing;
  }
}
