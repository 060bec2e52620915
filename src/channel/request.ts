/**
 * Request/reply: the requester numbers its requests, many may be in flight on one connection, and replies come
 * back in any order, matched by id. A handler's throw becomes an error reply; a requester that gives up sends a
 * cancel, which aborts the handler's signal.
 */
import type { Address } from '../core/address.js';
import { abortError, Codes, NetError, protocolError, timedOut, tooLarge, wrap } from '../core/errors.js';
import type { WaitOptions } from '../core/types.js';
import { ChannelBase } from './base.js';
import { codecOf, type Codec } from './codec.js';
import type { ChannelDialOptions, ChannelListenOptions, HeartbeatOptions, Protocol } from './endpoint.js';
import { DiallingEndpoint } from './dialling.js';
import { ListeningEndpoint } from './listening.js';
import { envelopeHead, Kind, KIND_NAMES, nextId } from './envelope.js';
import type { CodecOptions } from './message.js';
import { closeAll, type ChannelPeer, type Pipe } from './pipe.js';

/** What a request handler gets besides the request. */
export interface RequestContext {
  peer: ChannelPeer;
  /** Descriptors that came with the request (unix transports); the handler's to close. */
  fds: number[];
  /** Aborted when the requester cancels (its signal or timeout) or goes away: the reply would be thrown away. */
  signal: AbortSignal;
}

/** Answers one request: the value returned (or resolved) is the reply; a throw is an error reply. */
export type RequestHandler<Req = any, Rep = any> = (request: Req, context: RequestContext) => Rep | Promise<Rep>;

export interface ReplierOptions extends ChannelListenOptions, CodecOptions, HeartbeatOptions {
  /** Requests handled at once per peer; more wait (reading from that peer pauses). Default 1024. */
  concurrency?: number;
}

/** What an error reply carries: the handler's error, by name and message (and code, when it had one). */
export interface ErrorReply {
  name: string;
  message: string;
  code?: string;
}

/**
 * A request failed at the server: its handler threw. `code` is `ERR_SOCKTOOL_REPLY_ERROR`; `remote` has the
 * handler's error name, message and code.
 */
export class ReplyError extends Error {
  override readonly name = 'ReplyError';
  readonly code = Codes.REPLY_ERROR;
  constructor(readonly remote: ErrorReply) {
    super(`${remote.name}: ${remote.message}`);
  }
}

/** Errors of a connection rather than of one reply: its pipe reports them as it ends. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ENOTCONN', Codes.CLOSED]);

/** Requesters speak first (an idle one pings within a heartbeat interval): one silent this long after connecting only holds a place. */
export const FIRST_MESSAGE_MS = 10_000;

/**
 * The server side: calls the handler for each request and sends back what it returns. A request's bytes are
 * held for its peer (see core/budget.ts) until its reply has been handed to the transport, so that a requester
 * that sends without reading its replies is held back, not queued for.
 */
export class Replier<Req = any, Rep = any> extends ChannelBase implements Protocol {
  /** @internal */
  readonly heartbeats = true;
  private codec: Codec<any>;
  private running = new Map<Pipe, Map<number, Cancellation>>();
  private room = new Map<Pipe, () => void>();
  private readonly concurrency: number;

  private constructor(addr: Address | string, private handler: RequestHandler<Req, Rep>, options: ReplierOptions) {
    super();
    this.codec = codecOf(options.codec);
    this.concurrency = options.concurrency ?? 1024;
    this.endpoint = new ListeningEndpoint(addr, this, options, 'wait', FIRST_MESSAGE_MS);
  }

  /** @internal */
  static async open<Req, Rep>(addr: Address | string, handler: RequestHandler<Req, Rep>, options: ReplierOptions): Promise<Replier<Req, Rep>> {
    const r = new Replier(addr, handler, options);
    await r.endpoint.start();
    return r;
  }

  /** @internal */
  received(pipe: Pipe, frame: Buffer, fds: number[], peer: ChannelPeer): void | Promise<void> {
    const env = this.envelopeOf(pipe, frame);
    if (!env) return closeAll(fds);
    if (env.kind === Kind.CANCEL) {
      this.running.get(pipe)?.get(env.id)?.abort();
      return;
    }
    if (env.kind !== Kind.REQUEST) {
      closeAll(fds);
      return this.refuse(pipe, protocolError('recv', `a requester sends requests and cancels, not kind ${env.kind}`, this.network));
    }
    let inPipe = this.running.get(pipe);
    if (!inPipe) this.running.set(pipe, (inPipe = new Map()));
    const cancellation = new Cancellation();
    inPipe.set(env.id, cancellation);
    pipe.account?.add(frame.length);
    void this.handle(pipe, inPipe, env.id, env.body, fds, peer, cancellation, frame.length);
    if (inPipe.size >= this.concurrency) return new Promise<void>((resolve) => this.room.set(pipe, resolve));
  }

  /**
   * Runs the handler for one request; `inPipe` is its peer's running requests (gone from `running` once the peer
   * is). The request's `size` bytes, charged to its peer as it arrived, are given back once the reply is sent.
   */
  private async handle(pipe: Pipe, inPipe: Map<number, Cancellation>, id: number, body: Buffer, fds: number[], peer: ChannelPeer,
    cancellation: Cancellation, size: number): Promise<void> {
    let head: Buffer;
    let reply: Uint8Array;
    try {
      const result = await this.handler(this.codec.decode(body), new Context(peer, fds, cancellation));
      head = envelopeHead(Kind.REPLY, id);
      reply = this.codec.encode(result === undefined ? null : result);
    } catch (err) {
      head = envelopeHead(Kind.ERROR, id);
      reply = errorReply(err);
    } finally {
      // The peer may have gone meanwhile (detached): then its map is no longer in `running`.
      inPipe.delete(id);
      if (inPipe.size === 0 && this.running.get(pipe) === inPipe) this.running.delete(pipe);
      const free = this.room.get(pipe);
      if (free && inPipe.size < this.concurrency) {
        this.room.delete(pipe);
        free();
      }
    }
    try {
      if (!cancellation.aborted && !pipe.closed) await this.send(pipe, id, head, reply, peer);
    } finally {
      pipe.account?.add(-size);
    }
  }

  private async send(pipe: Pipe, id: number, head: Buffer, reply: Uint8Array, peer: ChannelPeer): Promise<void> {
    try {
      await this.endpoint.sendTo(pipe, head, reply);
    } catch (err) {
      // The peer went: that is reported once, as it leaves, not once per reply it was owed.
      if (pipe.closed || CONNECTION_LOST.has((err as NetError).code)) return;
      // A reply too large for the limit or the transport: the requester learns why instead of waiting.
      if ((err as NetError).code !== 'EMSGSIZE' || head[0] === Kind.ERROR) return this.endpoint.report(err as Error, peer);
      await this.endpoint.sendTo(pipe, envelopeHead(Kind.ERROR, id), errorReply(err)).catch((e: Error) => this.endpoint.report(e, peer));
    }
  }

  /** @internal A request over the limit: its requester learns why, when its id arrived. */
  oversize(pipe: Pipe, start: Buffer): void {
    if (start.length < 5 || start[0] !== Kind.REQUEST) return;
    const max = this.endpoint.maxMessage;
    const why = tooLarge('recv', this.network, `more than ${max}`, max, undefined, 'this server\'s');
    this.endpoint.sendTo(pipe, envelopeHead(Kind.ERROR, start.readUInt32BE(1)), errorReply(why)).catch(() => {});
  }

  /** @internal */
  detached(pipe: Pipe): void {
    const inPipe = this.running.get(pipe);
    for (const c of inPipe?.values() ?? []) c.abort();
    this.running.delete(pipe);
    this.room.get(pipe)?.();
    this.room.delete(pipe);
  }
}

/** What a handler gets besides the request: a class, not a literal with a getter, which costs more to make per request. */
class Context implements RequestContext {
  constructor(readonly peer: ChannelPeer, readonly fds: number[], private cancellation: Cancellation) {}

  get signal(): AbortSignal {
    return this.cancellation.signal;
  }
}

/** A request's cancellation. Its AbortSignal is made only when a handler asks for it: most never do, and one per request costs. */
class Cancellation {
  aborted = false;
  private controller: AbortController | undefined;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  abort(): void {
    this.aborted = true;
    this.controller?.abort();
  }
}

function errorReply(err: unknown): Buffer {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  const reply: ErrorReply = {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
  if (typeof e?.code === 'string') reply.code = e.code;
  return Buffer.from(JSON.stringify(reply));
}

export interface RequestOptions extends WaitOptions {
  /** Milliseconds to wait for the reply (from the call, queueing included): then ETIMEDOUT, and the server is told. */
  timeout?: number;
  /** Open descriptors to pass with the request (unix transports). */
  fds?: readonly number[];
}

export interface RequesterOptions extends ChannelDialOptions, CodecOptions, HeartbeatOptions {}

interface Pending {
  resolve(reply: any): void;
  reject(err: Error): void;
  /** The request has been handed to the transport (a drop now fails it: it may have been acted on). */
  sent: boolean;
  /** Given up on while still queued: withdrawn, never sent. */
  cancelled: boolean;
  cleanup(): void;
}

/** The client side: `request()` resolves with the reply. */
export class Requester<Req = any, Rep = any> extends ChannelBase implements Protocol {
  /** @internal */
  readonly heartbeats = true;
  protected declare endpoint: DiallingEndpoint;
  private codec: Codec<any>;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  /** What the peer sent that no replier sends (an echo server returns the request itself), for a timeout to tell. */
  private notAReplier: string | undefined;

  private constructor(addr: Address | string, options: RequesterOptions) {
    super();
    this.codec = codecOf(options.codec);
    this.endpoint = new DiallingEndpoint(addr, this, options, 'wait');
    this.endpoint.once('close', () => this.failAll(() => true, new NetError({ op: 'recv', network: this.network, addr: this.addr, code: Codes.CLOSED })));
  }

  /** @internal */
  static async open<Req, Rep>(addr: Address | string, options: RequesterOptions): Promise<Requester<Req, Rep>> {
    const r = new Requester<Req, Rep>(addr, options);
    await r.endpoint.start();
    return r;
  }

  /** Requests in flight (sent or queued). */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Sends a request and resolves with its reply. Rejects with a {@link ReplyError} when the handler threw,
   * `ETIMEDOUT` after `timeout`, the signal's reason as a NetError when aborted (both tell the server), and
   * `ERR_SOCKTOOL_DISCONNECTED` when the connection dropped after the request went out.
   */
  request(message: Req, options: RequestOptions = {}): Promise<Rep> {
    let body: Uint8Array;
    try {
      body = this.codec.encode(message);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = this.takeId();
    return new Promise<Rep>((resolve, reject) => {
      const { signal, timeout } = options;
      if (signal?.aborted) return reject(abortError('recv', this.network, this.addr, signal));
      // Given up on (aborted, or out of time): the server is told if the request went out; if it is still queued,
      // it is withdrawn and the server never hears of it.
      const giveUp = (err: Error) => {
        this.settle(id)?.reject(err);
        if (p.sent) this.cancel(id);
        else p.cancelled = true;
      };
      const onAbort = () => giveUp(abortError('recv', this.network, this.addr, signal!));
      const timer = timeout === undefined ? undefined : setTimeout(() => giveUp(timedOut('recv',
        `no reply within ${timeout} ms${this.notAReplier ? `; the peer is no replier, it seems: it sent ${this.notAReplier}` : ''}`,
        this.network, this.addr)), timeout);
      const p: Pending = {
        resolve, reject, sent: false, cancelled: false,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, p);
      const handed = () => {
        if (p.cancelled) return false;
        p.sent = true;
      };
      this.endpoint.send(envelopeHead(Kind.REQUEST, id), body, options.fds, handed)
        .catch((err) => this.settle(id)?.reject(wrap('send', this.network, this.addr, err)));
    });
  }

  /** A fresh id: counts up, wrapping past 2^32 - 1, skipping ids still in flight. */
  private takeId(): number {
    let id = this.nextId;
    while (this.pending.has(id)) id = nextId(id);
    this.nextId = nextId(id);
    return id;
  }

  private cancel(id: number): void {
    this.endpoint.send(envelopeHead(Kind.CANCEL, id), EMPTY).catch(() => {});
  }

  /** Takes request `id` off the books; its Pending, if it was still waiting. */
  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    p.cleanup();
    return p;
  }

  /** @internal */
  received(pipe: Pipe, frame: Buffer, fds: number[]): void {
    closeAll(fds);
    const env = this.envelopeOf(pipe, frame);
    if (env?.kind === Kind.REPLY) {
      const p = this.settle(env.id);
      if (!p) return; // late: it timed out or was cancelled
      try {
        p.resolve(this.codec.decode(env.body));
      } catch (err) {
        p.reject(wrap('recv', this.network, this.addr, err));
      }
    } else if (env?.kind === Kind.ERROR) {
      const p = this.settle(env.id);
      if (!p) return;
      let reply: ErrorReply;
      try {
        reply = JSON.parse(env.body.toString());
      } catch {
        reply = { name: 'Error', message: env.body.toString() };
      }
      p.reject(new ReplyError(reply));
    } else if (env) {
      this.notAReplier = `a ${KIND_NAMES[env.kind] ?? `kind ${env.kind}`} envelope (an echo server sends a request back)`;
    }
  }

  /** @internal */
  detached(_pipe: Pipe, error: Error | undefined): void {
    // A frame no channel peer sends (an HTTP server's answer reads as a huge length) means another protocol there.
    const stranger = error instanceof NetError && (error.code === 'EMSGSIZE' || error.code === 'EPROTO')
      ? ': is a socktool replier there? what it sent is no channel frame' : '';
    const lost = new NetError({ op: 'recv', network: this.network, addr: this.addr, code: Codes.DISCONNECTED,
      detail: `the connection dropped (${error?.message ?? 'closed by the server'}) with the request unanswered${stranger}`, cause: error });
    this.failAll((p) => p.sent, lost);
  }

  private failAll(which: (p: Pending) => boolean, err: Error): void {
    for (const [id, p] of this.pending) {
      if (!which(p)) continue;
      this.settle(id);
      p.reject(err);
    }
  }
}

const EMPTY = Buffer.alloc(0);
