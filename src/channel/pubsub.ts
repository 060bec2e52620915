/**
 * Publish/subscribe with topic prefixes, filtered at the publisher (nothing a subscriber did not ask for is
 * sent). `subscribe()` resolves once the publisher has the subscription: everything published after that
 * reaches the subscriber (on udp, what the network does not lose; `lost` counts the gaps).
 */
import type { Address } from '../core/address.js';
import { abortError, closedError, Codes, invalid, NetError, protocolError } from '../core/errors.js';
import { isStreamNetwork } from '../core/networks.js';
import type { WaitOptions } from '../core/types.js';
import { ChannelBase, Mailbox } from './base.js';
import { codecOf, type Codec } from './codec.js';
import type { ChannelDialOptions, ChannelListenOptions, HeartbeatOptions, Protocol } from './endpoint.js';
import { DiallingEndpoint } from './dialling.js';
import { ListeningEndpoint } from './listening.js';
import { envelopeHead, Kind, MAX_TOPIC, nextId } from './envelope.js';
import type { CodecOptions } from './message.js';
import { FIRST_MESSAGE_MS } from './request.js';
import { closeAll, DatagramPipe, type ChannelPeer, type Pipe } from './pipe.js';

export interface PublisherOptions extends ChannelListenOptions, CodecOptions, HeartbeatOptions {}

interface Subscription {
  prefixes: Set<string>;
  /** The last publish's sequence number sent to this peer. */
  seq: number;
}

/** The publishing side: listens; each subscriber gets what matches its prefixes, through its own send queue. */
export class Publisher<T = unknown> extends ChannelBase implements Protocol {
  /** @internal */
  readonly heartbeats = true;
  private codec: Codec<any>;
  private subs = new Map<Pipe, Subscription>();
  /** Callers of waitForSubscribers(), each told once the count reaches its number. */
  private awaited = new Set<{ count: number; resolve(): void }>();

  private constructor(addr: Address | string, options: PublisherOptions) {
    super();
    this.codec = codecOf(options.codec);
    // A slow subscriber loses the newest messages rather than holding the publisher back (ZeroMQ's PUB does so too).
    this.endpoint = new ListeningEndpoint(addr, this, options, 'drop-newest', FIRST_MESSAGE_MS);
  }

  /** @internal */
  static async open<T>(addr: Address | string, options: PublisherOptions): Promise<Publisher<T>> {
    const p = new Publisher<T>(addr, options);
    await p.endpoint.start();
    return p;
  }

  /** Peers with at least one subscription. */
  get subscribers(): number {
    let n = 0;
    for (const s of this.subs.values()) if (s.prefixes.size > 0) n++;
    return n;
  }

  /**
   * Resolves once `count` peers are subscribed (to anything): what is published from then on reaches them. The
   * cure for ZeroMQ's "slow joiner", for a publisher with a known audience. `signal` bounds the wait.
   */
  waitForSubscribers(count: number, options: WaitOptions = {}): Promise<void> {
    if (this.subscribers >= count) return Promise.resolve();
    if (this.endpoint.closed) return Promise.reject(closedError('accept', this.network, this.addr));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError('accept', this.network, this.addr, signal));
    return new Promise((resolve, reject) => {
      const settle = (err?: Error) => {
        this.awaited.delete(waiter);
        signal?.removeEventListener('abort', onAbort);
        this.endpoint.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const waiter = { count, resolve: () => settle() };
      const onAbort = () => settle(abortError('accept', this.network, this.addr, signal!));
      const onClose = () => settle(closedError('accept', this.network, this.addr));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.endpoint.once('close', onClose);
      this.awaited.add(waiter);
    });
  }

  /**
   * Stops publishing: every subscriber is told it has ended (after what its queue still holds, for up to
   * END_GRACE_MS), so that its iteration ends and it does not reconnect; then the channel closes. A publisher
   * that dies without close() reads as a disconnect, and its subscribers reconnect.
   */
  override async close(): Promise<void> {
    if (!this.endpoint.closed) {
      const told = Promise.all([...this.subs.keys()].map((pipe) =>
        this.endpoint.sendTo(pipe, envelopeHead(Kind.END, 0), EMPTY).catch(() => {})));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([told.then(() => this.endpoint.flush()), new Promise((r) => (timer = setTimeout(r, END_GRACE_MS)))]);
      clearTimeout(timer);
    }
    return super.close();
  }

  /**
   * Publishes `message` on `topic` to every subscriber with a prefix of it; resolves with how many it was sent
   * to, once each has taken it (or dropped it, by the policy).
   */
  async publish(topic: string, message: T): Promise<number> {
    const topicBytes = Buffer.from(topic);
    if (topicBytes.length > MAX_TOPIC) {
      throw invalid('send', `a topic is at most ${MAX_TOPIC} bytes`, this.network);
    }
    const body = this.codec.encode(message);
    const sends: Promise<void>[] = [];
    for (const [pipe, sub] of this.subs) {
      if (!matches(sub.prefixes, topic)) continue;
      sub.seq = nextId(sub.seq);
      sends.push(this.endpoint.sendTo(pipe, envelopeHead(Kind.PUBLISH, sub.seq, topicBytes), body));
    }
    await Promise.all(sends);
    return sends.length;
  }

  /** @internal */
  received(pipe: Pipe, frame: Buffer, fds: number[]): void {
    closeAll(fds);
    const env = this.envelopeOf(pipe, frame);
    if (!env) return;
    if (env.kind !== Kind.SUBSCRIBE && env.kind !== Kind.UNSUBSCRIBE) {
      return this.refuse(pipe, protocolError('recv', `a subscriber sends subscribe and unsubscribe, not kind ${env.kind}`, this.network));
    }
    if (pipe.peer.addr === null && pipe instanceof DatagramPipe) return; // an unnamed socket cannot be sent to
    let sub = this.subs.get(pipe);
    if (!sub) this.subs.set(pipe, (sub = { prefixes: new Set(), seq: 0 }));
    const prefix = env.body.toString();
    if (env.kind === Kind.SUBSCRIBE) sub.prefixes.add(prefix);
    else sub.prefixes.delete(prefix);
    // In order after every publish sent before it: what is published from now on matches the new prefixes.
    this.endpoint.sendTo(pipe, envelopeHead(Kind.ACK, env.id), EMPTY).catch(() => {});
    if (this.awaited.size > 0) {
      const now = this.subscribers;
      for (const w of this.awaited) {
        if (now < w.count) continue;
        this.awaited.delete(w);
        w.resolve();
      }
    }
  }

  /** @internal */
  detached(pipe: Pipe): void {
    this.subs.delete(pipe);
  }
}

function matches(prefixes: Set<string>, topic: string): boolean {
  for (const p of prefixes) if (topic.startsWith(p)) return true;
  return false;
}

/** One message a subscriber received. */
export interface Publication<T> {
  topic: string;
  data: T;
  peer: ChannelPeer;
}

export interface SubscriberOptions extends ChannelDialOptions, CodecOptions, HeartbeatOptions {
  /** Datagram transports: how often an unanswered subscribe is sent again, in ms (udp may lose it). Default 250. */
  resend?: number;
}

interface Ack {
  resolve(): void;
  reject(err: Error): void;
  /** The request, sent again after a reconnect (and until answered, on datagram transports). */
  head: Buffer;
  body: Buffer;
  timer?: NodeJS.Timeout;
}

/** The subscribing side: dials; iterate it for publications. Subscriptions are renewed after each reconnect. */
export class Subscriber<T = unknown> extends ChannelBase implements Protocol, AsyncIterable<Publication<T>> {
  /** @internal */
  readonly heartbeats = true;
  protected declare endpoint: DiallingEndpoint;
  private codec: Codec<any>;
  private mailbox: Mailbox<Publication<T>>;
  private prefixes = new Set<string>();
  private acks = new Map<number, Ack>();
  private nextId = 1;
  private expected = 1;
  private readonly resend: number;
  /** Publications that never arrived (gaps in their sequence numbers; udp). */
  lost = 0;

  private constructor(addr: Address | string, options: SubscriberOptions) {
    super();
    this.codec = codecOf(options.codec);
    this.resend = options.resend ?? 250;
    this.endpoint = new DiallingEndpoint(addr, this, options, 'wait');
    this.mailbox = new Mailbox(options.inbox ?? 1024, this.endpoint.network);
    this.endpoint.once('close', () => {
      this.mailbox.end();
      const closed = new NetError({ op: 'recv', network: this.network, addr: this.addr, code: Codes.CLOSED });
      for (const id of [...this.acks.keys()]) this.answer(id)?.reject(closed);
    });
  }

  /** @internal */
  static async open<T>(addr: Address | string, prefixes: readonly string[], options: SubscriberOptions): Promise<Subscriber<T>> {
    const s = new Subscriber<T>(addr, options);
    await s.endpoint.start();
    try {
      await Promise.all(prefixes.map((p) => s.subscribe(p, { signal: options.signal })));
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  /** The prefixes subscribed to. */
  get topics(): string[] {
    return [...this.prefixes];
  }

  /** Subscribes to topics starting with `prefix` ('' for all); resolves once the publisher has it. */
  subscribe(prefix: string, options?: WaitOptions): Promise<void> {
    this.prefixes.add(prefix);
    return this.ask(Kind.SUBSCRIBE, prefix, options);
  }

  unsubscribe(prefix: string, options?: WaitOptions): Promise<void> {
    this.prefixes.delete(prefix);
    return this.ask(Kind.UNSUBSCRIBE, prefix, options);
  }

  private ask(kind: Kind, prefix: string, options?: WaitOptions): Promise<void> {
    const id = this.nextId;
    this.nextId = nextId(id);
    const signal = options?.signal;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.answer(id);
        reject(abortError('recv', this.network, this.addr, signal!));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      const ack: Ack = {
        head: envelopeHead(kind, id),
        body: Buffer.from(prefix),
        resolve: () => (done(), resolve()),
        reject: (err) => (done(), reject(err)),
      };
      this.acks.set(id, ack);
      this.sendAsk(id, ack);
    });
  }

  /** Sends a (un)subscribe; on datagram transports again every `resend` ms until it is answered. */
  private sendAsk(id: number, ack: Ack): void {
    this.endpoint.send(ack.head, ack.body).catch((err) => this.answer(id)?.reject(err));
    if (!isStreamNetwork(this.network)) {
      clearTimeout(ack.timer);
      ack.timer = setTimeout(() => this.acks.has(id) && this.sendAsk(id, ack), this.resend);
      ack.timer.unref();
    }
  }

  private answer(id: number): Ack | undefined {
    const ack = this.acks.get(id);
    if (!ack) return undefined;
    this.acks.delete(id);
    clearTimeout(ack.timer);
    return ack;
  }

  /** @internal */
  attached(): void {
    this.expected = 1;
    // A new connection (or datagram socket) knows nothing of this subscriber: ask again what is unanswered, and
    // renew every subscription (the publisher keeps prefixes as a set: a repeat changes nothing).
    const asked = new Set<string>();
    for (const [id, ack] of this.acks) {
      this.sendAsk(id, ack);
      asked.add(ack.body.toString());
    }
    for (const prefix of this.prefixes) if (!asked.has(prefix)) void this.ask(Kind.SUBSCRIBE, prefix).catch(() => {});
  }

  /** @internal */
  received(pipe: Pipe, frame: Buffer, fds: number[], peer: ChannelPeer): void | Promise<void> {
    closeAll(fds);
    const env = this.envelopeOf(pipe, frame);
    if (!env) return;
    if (env.kind === Kind.ACK) {
      this.answer(env.id)?.resolve();
      return;
    }
    // The publisher closed for good: what arrived before is still read, then the iteration ends.
    if (env.kind === Kind.END) return void this.close();
    if (env.kind !== Kind.PUBLISH) return;
    if (env.id > this.expected) this.lost += env.id - this.expected;
    if (env.id >= this.expected) this.expected = env.id + 1;
    let data: T;
    try {
      data = this.codec.decode(env.body);
    } catch (err) {
      this.endpoint.report(new Error(`dropped a publication that did not decode: ${(err as Error).message}`), peer);
      return;
    }
    return this.mailbox.push({ topic: env.topic!, data, peer });
  }

  /** The next publication; `null` once the subscriber is closed. */
  recv(options?: WaitOptions): Promise<Publication<T> | null> {
    return this.mailbox.next(options);
  }

  [Symbol.asyncIterator](): AsyncIterator<Publication<T>> {
    return this.mailbox[Symbol.asyncIterator]();
  }
}

const EMPTY = Buffer.alloc(0);
/** How long a closing publisher waits for its subscribers' queues to take the end (a stuck one is not waited for). */
const END_GRACE_MS = 2000;
