/** What every channel shares: its endpoint's address, peers, counters, events and close; and a bounded inbox. */
import type { Address } from '../core/address.js';
import type { Account } from '../core/budget.js';
import { abortError, invalid } from '../core/errors.js';
import { Inbox } from '../core/inbox.js';
import type { Network } from '../core/networks.js';
import type { WaitOptions } from '../core/types.js';
import type { Endpoint, RetryEvent } from './endpoint.js';
import { openEnvelope, type Envelope } from './envelope.js';
import { DatagramPipe, pipeOf, type ChannelPeer, type Pipe } from './pipe.js';

/** The events of every channel. */
export interface ChannelEvents {
  /** A peer came: the connection of a dialling channel (again after a drop), or a new peer of a listening one. */
  connected: [peer: ChannelPeer];
  /** A peer went; `error` says why (undefined: it closed in order). */
  disconnected: [peer: ChannelPeer, error: Error | undefined];
  /** A dialling channel waits before its next attempt. */
  retrying: [event: RetryEvent];
  /** The channel has closed. */
  close: [];
}

export abstract class ChannelBase {
  protected endpoint!: Endpoint;

  get network(): Network {
    return this.endpoint.network;
  }

  /** The listening address (with the port or path it got), or the dialled one. */
  get addr(): Address {
    return this.endpoint.addr;
  }

  /** The peers now: those connected (or, on datagram transports, heard from). */
  get peers(): ChannelPeer[] {
    return [...this.endpoint.pipes].map((p) => p.peer);
  }

  /** Messages dropped by the send queues' policy (see {@link ChannelOptions.policy}). */
  get dropped(): number {
    return this.endpoint.dropped;
  }

  /** Peers refused: by the allow list or `authorize`, or over `maxPeers`. */
  get refused(): number {
    return this.endpoint.refused;
  }

  on<E extends keyof ChannelEvents>(event: E, listener: (...args: ChannelEvents[E]) => void): this {
    this.endpoint.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<E extends keyof ChannelEvents>(event: E, listener: (...args: ChannelEvents[E]) => void): this {
    this.endpoint.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<E extends keyof ChannelEvents>(event: E, listener: (...args: ChannelEvents[E]) => void): this {
    this.endpoint.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /**
   * Resolves once everything sent so far has been handed to the transport and taken (or has failed): call it
   * before closing, so that what the queues still hold is not thrown away. A dialling channel that is
   * disconnected waits for its next connection; `signal` bounds the wait.
   */
  flush(options?: WaitOptions): Promise<void> {
    const signal = options?.signal;
    if (!signal) return this.endpoint.flush();
    if (signal.aborted) return Promise.reject(abortError('send', this.network, this.addr, signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(abortError('send', this.network, this.addr, signal));
      signal.addEventListener('abort', onAbort, { once: true });
      this.endpoint.flush().then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Closes the channel: its socket, its peers' connections; queued messages fail with ERR_SOCKTOOL_CLOSED. Idempotent. */
  close(): Promise<void> {
    return this.endpoint.close();
  }

  /** A peer that does not speak the pattern: its connection is closed; a bad datagram is dropped and reported. */
  protected refuse(pipe: Pipe, err: Error): void {
    if (pipe instanceof DatagramPipe) this.endpoint.report(err, pipe.peer);
    else pipe.close(err);
  }

  /** The envelope of a received frame; a frame that is none is refused (see {@link ChannelBase.refuse}). */
  protected envelopeOf(pipe: Pipe, frame: Buffer): Envelope | undefined {
    try {
      return openEnvelope(frame, this.network, pipe.peer.addr ?? undefined);
    } catch (err) {
      this.refuse(pipe, err as Error);
      return undefined;
    }
  }

  /** The pipe of a peer this channel handed out. */
  protected pipeOf(peer: ChannelPeer): Pipe {
    const pipe = pipeOf(peer);
    if (!pipe || !this.endpoint.owns(pipe)) {
      throw invalid('send', 'not a peer of this channel', this.network);
    }
    return pipe;
  }
}

/**
 * Received messages waiting to be read: bounded, and a full one pauses reading (the promise `push` returns). On a
 * listening channel (`charged`) a waiting message's bytes are charged to its peer's account until it is read.
 */
export class Mailbox<T> {
  private inbox: Inbox<T>;
  private room: Promise<void> | undefined;
  private freeRoom: (() => void) | undefined;
  /** Beside each queued message, in the same order: the account it is charged to and its size. */
  private accounts: (Account | undefined)[] = [];
  private sizes: number[] = [];
  private head = 0;

  constructor(limit: number, private network: Network, private charged = false) {
    this.inbox = new Inbox(limit);
  }

  /** Queues `item` (`size` bytes, charged to `account` while it waits), or hands it to a waiting reader. */
  push(item: T, account?: Account, size = 0): void | Promise<void> {
    if (this.charged && !this.inbox.waiting && !this.inbox.ended) {
      account?.add(size);
      this.accounts.push(account);
      this.sizes.push(size);
    }
    if (this.inbox.push(item)) return;
    this.room ??= new Promise((resolve) => (this.freeRoom = resolve));
    return this.room;
  }

  next(options?: WaitOptions): Promise<T | null> {
    if (this.charged && this.inbox.size > 0) this.credit();
    const item = this.inbox.next(options?.signal, this.aborted);
    if (this.room && !this.inbox.full) {
      this.room = undefined;
      this.freeRoom!();
    }
    return item;
  }

  /** The oldest queued message is being read: its bytes are no longer held. */
  private credit(): void {
    const account = this.accounts[this.head];
    account?.add(-this.sizes[this.head]!);
    this.accounts[this.head++] = undefined;
    if (this.head === this.accounts.length) {
      this.accounts.length = this.sizes.length = this.head = 0;
    }
  }

  private aborted = (signal: AbortSignal) => abortError('recv', this.network, undefined, signal);

  end(): void {
    this.inbox.end();
    this.freeRoom?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (let m = await this.next(); m !== null; m = await this.next()) yield m;
  }
}
