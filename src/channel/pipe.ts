/**
 * A pipe is one peer of a channel (as in nng): a connection, or a datagram peer known by its address. It writes
 * whole messages (framed on byte streams, one per send on message sockets) and reads them back for its endpoint.
 */
import { closeFd } from '../api.js';
import type { Address } from '../core/address.js';
import type { Account } from '../core/budget.js';
import { NetError, tooLarge } from '../core/errors.js';
import { rowOf, type Network } from '../core/networks.js';
import type { Conn, DatagramSocket, PeerCredentials } from '../core/types.js';
import { frameHeader, FrameReader, headerLength, writeFrameHeader } from './frame.js';
import type { AfterHandshake } from './authkey.js';
import type { Outbox, Sink } from './outbox.js';

/** Who a message came from: its address (null: an unnamed unix socket) and, on unix transports, who runs it. */
export interface ChannelPeer {
  readonly network: Network;
  readonly addr: Address | null;
  readonly uid?: number;
  readonly gid?: number;
  readonly pid?: number;
}

/** What a pipe tells its endpoint. */
export interface PipeOwner {
  /** A message arrived; a returned promise pauses reading until it settles (the receiver is behind). */
  received(pipe: Pipe, frame: Buffer, fds: number[], peer: ChannelPeer): void | Promise<void>;
  /** A message over the limit was refused; `start` is what of it arrived (up to its first bytes), to answer why. */
  oversize?(pipe: Pipe, start: Buffer): void;
}

export function peerOf(network: Network, addr: Address | null, credentials?: PeerCredentials): ChannelPeer {
  return credentials ? { network, addr, uid: credentials.uid, gid: credentials.gid, pid: credentials.pid } : { network, addr };
}

/** Messages this small are written as one buffer; larger ones as parts, uncopied. */
const COPY_BELOW = 4096;
const NO_FDS: number[] = [];
const NO_DATA = Buffer.alloc(0);

/** Which pipe each peer object stands for, so that a channel can send to a peer it handed out. */
const PIPES = new WeakMap<ChannelPeer, Pipe>();
export const pipeOf = (peer: ChannelPeer): Pipe | undefined => PIPES.get(peer);

export abstract class Pipe implements Sink {
  /** Set by the endpoint: this peer's queue (a dialling channel's one queue, kept across its connections). */
  outbox!: Outbox;
  /** A listening channel's peer: what it makes the server hold (see core/budget.ts). */
  account: Account | undefined;
  /** Called once, when the first message from the peer arrives. */
  onFirstMessage: (() => void) | undefined;
  /** Frames received and written so far (the heartbeat compares them between its looks). */
  framesIn = 0;
  framesOut = 0;
  /** The heartbeat's last look: the counts it saw and since when they have not moved (Date.now()). */
  beat = { framesIn: 0, framesOut: 0, heardAt: 0, sentAt: 0 };
  /** Settles when the pipe has ended, with why (undefined: an orderly close). */
  readonly ended: Promise<Error | undefined>;
  protected end!: (err: Error | undefined) => void;
  closed = false;

  constructor(readonly peer: ChannelPeer) {
    this.ended = new Promise((resolve) => (this.end = resolve));
    this.beat.heardAt = this.beat.sentAt = Date.now();
    PIPES.set(peer, this);
  }

  abstract write(head: Buffer | undefined, body: Uint8Array, fds: readonly number[] | undefined): Promise<void>;

  /** The peer has sent a message (its first one ends the server's wait for it). */
  protected heard(): void {
    if (!this.onFirstMessage) return;
    const first = this.onFirstMessage;
    this.onFirstMessage = undefined;
    first();
  }

  /** Resolves once what was written has left this process (datagrams do at once; see ConnPipe). */
  written(): Promise<void> {
    return Promise.resolve();
  }

  /** Ends the pipe (its transport closed, if it has one of its own). */
  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.end(err);
  }
}

/** Whether messages on this connection need frames: bytes do (TLS records too, over anything); seqpacket keeps each send whole. */
export const isFramed = (network: Network, tls: boolean): boolean => tls || !rowOf(network).messages;

/** A connection: tcp, unix, unixpacket, or TLS over one of them. */
export class ConnPipe extends Pipe {
  private readonly framed: boolean;
  /** Descriptors can come with any read (unix transports without TLS; unix streams read natively, see withNativeReading). */
  private readonly withFds: boolean;

  /** `after`: where reading stands after a handshake (messages it read past its own, and its frame reader). */
  constructor(readonly conn: Conn, peer: ChannelPeer, tls: boolean, private max: number, private after?: AfterHandshake) {
    super(peer);
    this.framed = isFramed(conn.network, tls);
    this.withFds = !tls && rowOf(conn.network).fds;
    this.gathers = this.framed && !tls;
  }

  /**
   * Frames on a byte stream are gathered per turn of the event loop: the first goes out at once (a lone request
   * or reply waits for nothing), the ones written after it in the same turn go together in one writev at its end,
   * as ZeroMQ's I/O thread gathers them. A syscall (and on TCP a segment) per frame is what bounded streams of
   * small messages (tcp one-way 64 B: 6x the rate, a quarter of the CPU per message, measured). TLS makes records
   * of its own; seqpacket keeps each send a message.
   */
  private readonly gathers: boolean;
  /** Frames written in this turn so far. */
  private turnFrames = 0;
  private endTurn = (): void => {
    if (this.turnFrames > 1) this.conn.stream.uncork();
    this.turnFrames = 0;
  };

  write(head: Buffer | undefined, body: Uint8Array, fds: readonly number[] | undefined): Promise<void> {
    const conn = this.conn;
    this.framesOut++;
    const size = (head?.length ?? 0) + body.length;
    if (!this.framed) {
      const message = head ? Buffer.concat([head, body]) : body;
      return fds?.length ? conn.sendFds(message, fds) : conn.write(message);
    }
    if (this.gathers) {
      if (this.turnFrames === 0) process.nextTick(this.endTurn);
      else if (this.turnFrames === 1) conn.stream.cork();
      this.turnFrames++;
    }
    if (size < COPY_BELOW || fds?.length) {
      const at = headerLength(size);
      const message = Buffer.allocUnsafe(at + size);
      writeFrameHeader(message, size);
      if (head) head.copy(message, at);
      message.set(body, at + (head?.length ?? 0));
      return fds?.length ? conn.sendFds(message, fds) : conn.write(message);
    }
    // One writev of the parts: the payload is not copied.
    conn.stream.cork();
    conn.write(frameHeader(size)).catch(ignore);
    if (head) conn.write(head).catch(ignore);
    const written = conn.write(body);
    conn.stream.uncork();
    return written;
  }

  /** Reads messages until the peer's EOF, an error, or close(); then ends the pipe. */
  async run(owner: PipeOwner): Promise<void> {
    const conn = this.conn;
    const reader = this.framed ? this.after?.reader ?? new FrameReader(conn.network, this.max) : undefined;
    let pendingFds = NO_FDS;
    let failure: Error | undefined;
    try {
      if (reader) reader.max = this.max;
      const early = [...this.after?.early ?? [], ...(this.after && reader ? reader.push(NO_DATA) : [])];
      if (early.length > 0) this.heard();
      for (const message of early) {
        const r = owner.received(this, message, NO_FDS, this.peer);
        if (r) await r;
      }
      for (;;) {
        let data: Buffer;
        let fds = NO_FDS;
        if (this.withFds) {
          const got = await conn.recvFds();
          if (got === null) break;
          ({ data, fds } = got);
        } else {
          const got = await conn.read();
          if (got === null) break;
          data = got;
        }
        if (this.closed) break;
        if (!reader) {
          this.heard();
          if (data.length > this.max) {
            owner.oversize?.(this, data.subarray(0, 16));
            throw tooLarge('recv', conn.network, data.length, this.max);
          }
          const r = owner.received(this, data, fds, this.peer);
          if (r) await r;
          continue;
        }
        // The sender's descriptors start a message: they belong to the last one that begins in this chunk
        // (the kernel ends a read after the part that carried them). Earlier ones go to the first completed now.
        const earlier = pendingFds;
        pendingFds = NO_FDS;
        const wasPartial = reader.partial;
        let frames: Buffer[];
        try {
          frames = reader.push(data);
        } catch (err) {
          if ((err as NetError).code === 'EMSGSIZE') owner.oversize?.(this, reader.pending(16));
          throw err;
        }
        this.account?.setUnfinished(reader.held);
        if (frames.length > 0) this.heard();
        let target = -1;
        if (fds.length) {
          const trailingStartedHere = reader.partial && (frames.length > 0 || !wasPartial);
          if (trailingStartedHere || frames.length === 0) pendingFds = fds;
          else target = frames.length - 1;
        }
        if (frames.length === 0) pendingFds = earlier.concat(pendingFds);
        for (let i = 0; i < frames.length && !this.closed; i++) {
          let frameFds = i === 0 ? earlier : NO_FDS;
          if (i === target) frameFds = frameFds.length ? frameFds.concat(fds) : fds;
          const r = owner.received(this, frames[i]!, frameFds, this.peer);
          if (r) await r;
        }
      }
      if (reader?.partial && !this.closed) {
        throw new NetError({ op: 'recv', network: conn.network, addr: conn.remoteAddr, code: 'ECONNRESET',
          detail: 'the connection ended inside a message' });
      }
    } catch (err) {
      failure = err as Error;
    } finally {
      closeAll(pendingFds);
      this.close(failure);
      // A broken message leaves the stream out of step: that connection cannot go on. An oversize one is refused
      // in order: what was written (the answer saying why) goes out first.
      if (failure && (failure as NetError).code !== 'EMSGSIZE') conn.stream.destroy();
      else void conn.close();
    }
  }

  /**
   * A write resolves once the stream has taken it, which may be Node's buffer rather than the kernel's: this
   * resolves once that buffer is empty (an empty write's callback comes after every write before it).
   */
  override written(): Promise<void> {
    const s = this.conn.stream;
    if (s.writableLength === 0 || s.destroyed || s.writableEnded) return Promise.resolve();
    return new Promise((resolve) => s.write(NO_DATA, () => resolve()));
  }

  override close(err?: Error): void {
    super.close(err);
    void this.conn.close();
  }
}

/** A datagram peer: the socket's default peer (a dialling channel), or an address a listening one has heard from. */
export class DatagramPipe extends Pipe {
  /** `connected`: the socket is this pipe's own (a dialling channel's), connected to the peer, and closes with it. */
  constructor(readonly socket: DatagramSocket, private to: Address | null, peer: ChannelPeer, private connected: boolean) {
    super(peer);
  }

  /** An unnamed unix sender: no address to answer to, so no queue either. */
  get unnamed(): boolean {
    return this.to === null && !this.connected;
  }

  override close(err?: Error): void {
    super.close(err);
    if (this.connected) void this.socket.close();
  }

  write(head: Buffer | undefined, body: Uint8Array, fds: readonly number[] | undefined): Promise<void> {
    this.framesOut++;
    const message = head ? Buffer.concat([head, body]) : body;
    const options = fds?.length ? { fds } : undefined;
    return this.connected ? this.socket.send(message, options) : this.socket.sendTo(message, this.to, options);
  }
}

const ignore = () => {};

/** Closes descriptors nobody will take (a message that was dropped). */
export function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeFd(fd);
    } catch {
      // already closed
    }
  }
}
