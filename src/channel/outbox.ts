/**
 * The bounded send queue of a channel (one per peer on a listening channel, one for the connection of a dialling
 * channel, kept across reconnects). Messages go straight to the transport while it takes them; otherwise they
 * wait here, up to the high-water marks, and the policy decides what happens past them.
 */
import type { Account } from '../core/budget.js';
import { NetError } from '../core/errors.js';
import type { Network } from '../core/networks.js';
import { TAKEN } from '../core/stream.js';

/**
 * What a full queue does with the next message: `wait` keeps it and its `send()` resolves once it reaches the
 * transport (a sender that awaits is held back); `drop-newest` drops it, `drop-oldest` drops the oldest queued
 * one to make room (both counted in `dropped`, and `send()` resolves); `fail` rejects its `send()` with EAGAIN.
 */
export type Policy = 'wait' | 'drop-oldest' | 'drop-newest' | 'fail';

export interface HighWater {
  /** Messages queued for a peer before the policy applies. Default 1000 (ZeroMQ's). */
  messages?: number;
  /** Bytes queued for a peer before the policy applies. Default 16 MiB. */
  bytes?: number;
}

/** Where an outbox writes: one connection or one datagram peer. */
export interface Sink {
  /** Writes one message (`head` then `body`): settles once the transport has taken it. */
  write(head: Buffer | undefined, body: Uint8Array, fds: readonly number[] | undefined): Promise<void>;
}

/**
 * Called as a queued message is handed to the transport (a request then counts as sent); `false` withdraws it
 * instead: its sender gave up on it while it waited, so it is not sent at all.
 */
export type Handed = () => boolean | void;

interface Item {
  /** Order of sending: a message sent again goes back to its place. */
  seq: number;
  head: Buffer | undefined;
  body: Uint8Array;
  fds: readonly number[] | undefined;
  size: number;
  handed: Handed | undefined;
  /** Settles the sender's promise. */
  resolve(): void;
  reject(err: unknown): void;
}

const DONE = Promise.resolve();
const ignore = () => {};

/** Messages (and bytes) handed to the transport and not yet taken, before the outbox holds on to the rest. */
const WINDOW = 64;
const WINDOW_BYTES = 1 << 20;

export class Outbox {
  private queue: Item[] = [];
  private head = 0;
  private queuedBytes = 0;
  private inflight = 0;
  private inflightBytes = 0;
  private sink: Sink | undefined;
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private seq = 0;
  /** Callers of drained() waiting for the queue and the window to empty. */
  private drainWaiters: (() => void)[] = [];
  /** Messages dropped by the policy. */
  dropped = 0;
  /** A listening channel's peer: what waits here or in the transport for it is charged to its account. */
  account: Account | undefined;

  /**
   * `onWriteError` is told of each write the transport failed; when it returns true the peer is gone but will be
   * back (a dialling datagram channel redials): the message waits here to be sent again, instead of failing.
   */
  constructor(private network: Network, private policy: Policy, hwm: HighWater = {},
    private onWriteError: (err: unknown) => boolean = () => false, private resendable = false) {
    this.maxMessages = hwm.messages ?? 1000;
    this.maxBytes = hwm.bytes ?? 16 * 1024 * 1024;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Starts writing to `sink` (a connection came up). */
  attach(sink: Sink): void {
    this.sink = sink;
    this.pump();
  }

  /** Stops writing (the connection went down): what is queued waits for the next one. */
  detach(): void {
    this.sink = undefined;
  }

  /**
   * Queues a message. With `wait`, the promise resolves once the transport has it (the sender is held back);
   * with the other policies, once it is queued, since they keep the queue bounded themselves. `handed`: see
   * {@link Handed}.
   */
  send(head: Buffer | undefined, body: Uint8Array, fds?: readonly number[], handed?: Handed): Promise<void> {
    const size = (head?.length ?? 0) + body.length;
    const waits = this.policy === 'wait';
    if (!this.resendable && this.sink && this.queued === 0 && this.inflight < WINDOW && this.inflightBytes < WINDOW_BYTES) {
      handed?.();
      const written = this.write(this.sink, head, body, fds, size);
      return waits ? written : DONE;
    }
    if (this.queued >= this.maxMessages || this.queuedBytes + size > this.maxBytes) {
      switch (this.policy) {
        case 'drop-newest':
          this.dropped++;
          return DONE;
        case 'drop-oldest':
          this.dropOldest(size);
          break;
        case 'fail':
          return Promise.reject(new NetError({ op: 'send', network: this.network, code: 'EAGAIN',
            detail: `the send queue is full (${this.queued} messages, ${this.queuedBytes} bytes)` }));
        case 'wait':
          break;
      }
    }
    const item: Item = { seq: ++this.seq, head, body, fds, size, handed, resolve: ignore, reject: ignore };
    const queued = waits ? new Promise<void>((resolve, reject) => Object.assign(item, { resolve, reject })) : DONE;
    this.queue.push(item);
    this.queuedBytes += size;
    this.account?.add(size);
    this.pump();
    return queued;
  }

  /** A message the peer refused because it was gone: back to its place in the queue, for the next connection. */
  private putBack(item: Item): void {
    let at = this.head;
    while (at < this.queue.length && this.queue[at]!.seq < item.seq) at++;
    this.queue.splice(at, 0, item);
    this.queuedBytes += item.size;
    this.account?.add(item.size);
  }

  /** Drops queued messages, oldest first, until `size` more bytes and one more message fit. */
  private dropOldest(size: number): void {
    while (this.queued > 0 && (this.queued >= this.maxMessages || this.queuedBytes + size > this.maxBytes)) {
      const item = this.take();
      this.dropped++;
      item.resolve();
    }
  }

  private take(): Item {
    const item = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Item;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.queuedBytes -= item.size;
    this.account?.add(-item.size);
    return item;
  }

  /**
   * Hands a message to the transport, counting it in the window until it is taken (one the stream took at once,
   * the common case, is never counted: no promise to wait on per message); a peer found gone detaches it.
   */
  private write(sink: Sink, head: Buffer | undefined, body: Uint8Array, fds: readonly number[] | undefined,
    size: number): Promise<void> {
    const written = sink.write(head, body, fds);
    if (written === TAKEN) return written;
    this.inflight++;
    this.inflightBytes += size;
    this.account?.add(size);
    written.then(() => this.settled(size), (err) => {
      if (this.sink === sink && this.onWriteError(err)) this.detach();
      this.settled(size);
    });
    return written;
  }

  /** Writes a queued message; one the peer refused for being gone waits for the next connection (see the constructor). */
  private writeItem(sink: Sink, item: Item): void {
    if (item.handed?.() === false) return item.resolve(); // withdrawn
    this.write(sink, item.head, item.body, item.fds, item.size).then(item.resolve, (err) => {
      if (this.resendable && this.sink !== sink) this.putBack(item);
      else item.reject(err);
    });
  }

  private settled(size: number): void {
    this.inflight--;
    this.inflightBytes -= size;
    this.account?.add(-size);
    this.pump();
  }

  /** Resolves once nothing is queued or in flight: every message sent so far has been taken (or has failed). */
  drained(): Promise<void> {
    if (this.inflight === 0 && this.queued === 0) return DONE;
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private wakeDrained(): void {
    for (const wake of this.drainWaiters.splice(0)) wake();
  }

  /** Hands queued messages to the transport while it takes them. */
  private pump(): void {
    while (this.sink && this.queued > 0 && this.inflight < WINDOW && this.inflightBytes < WINDOW_BYTES) {
      this.writeItem(this.sink, this.take());
    }
    // Nothing left to settle (the last write may have been taken at once, never counted in flight): drained.
    if (this.inflight === 0 && this.queued === 0) this.wakeDrained();
  }

  /** Fails every queued message (the channel is closing). */
  fail(err: unknown): void {
    while (this.queued > 0) this.take().reject(err);
    if (this.inflight === 0) this.wakeDrained();
  }
}
