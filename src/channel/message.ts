/**
 * Plain messages both ways (pair, and push to every connected peer): the frame is the payload, so the bytes
 * codec speaks Python's `multiprocessing.connection` `send_bytes`/`recv_bytes` as it is.
 */
import type { Address } from '../core/address.js';
import type { WaitOptions } from '../core/types.js';
import { ChannelBase, Mailbox } from './base.js';
import { codecOf, type Codec, type CodecName } from './codec.js';
import type { ChannelDialOptions, ChannelListenOptions, Protocol } from './endpoint.js';
import { DiallingEndpoint } from './dialling.js';
import { ListeningEndpoint } from './listening.js';
import { closeAll, type ChannelPeer, type Pipe } from './pipe.js';

/** One received message. */
export interface Message<T> {
  data: T;
  /** Who sent it: answer with `channel.sendTo(message.peer, …)`. */
  peer: ChannelPeer;
  /** Descriptors that came with it (unix transports); the receiver's to close. */
  fds: number[];
}

export interface SendOptions {
  /** Open descriptors to pass with the message (unix transports; SCM_RIGHTS). */
  fds?: readonly number[];
}

export interface CodecOptions {
  /** How messages become bytes: `json` (the default), `bytes` (Buffers as they are), or your own. */
  codec?: CodecName | Codec<any>;
  /** Received messages held for the reader; a full inbox pauses reading from the peers. Default 1024. */
  inbox?: number;
}

/** A channel of plain messages, either side. Iterate it for what arrives; `send()` to the peer (or all peers). */
export class Channel<T = unknown> extends ChannelBase implements Protocol, AsyncIterable<Message<T>> {
  private codec: Codec<T>;
  private mailbox: Mailbox<Message<T>>;

  private constructor(op: 'listen' | 'dial', addr: string | Address,
    options: (ChannelListenOptions | ChannelDialOptions) & CodecOptions) {
    super();
    this.codec = codecOf(options.codec);
    this.endpoint = op === 'listen' ? new ListeningEndpoint(addr, this, options, 'wait') : new DiallingEndpoint(addr, this, options, 'wait');
    // A message waiting to be read is held for its peer (see core/budget.ts): its frame's bytes are charged to it.
    this.mailbox = new Mailbox(options.inbox ?? 1024, this.endpoint.network, op === 'listen');
    this.endpoint.once('close', () => this.mailbox.end());
  }

  /** @internal */
  static async open<T>(op: 'listen' | 'dial', addr: string | Address,
    options: (ChannelListenOptions | ChannelDialOptions) & CodecOptions): Promise<Channel<T>> {
    const channel = new Channel<T>(op, addr, options);
    await channel.endpoint.start();
    return channel;
  }

  /** @internal */
  received(pipe: Pipe, frame: Buffer, fds: number[], peer: ChannelPeer): void | Promise<void> {
    let data: T;
    try {
      data = this.codec.decode(frame);
    } catch (err) {
      closeAll(fds);
      this.endpoint.report(new Error(`dropped a message that did not decode: ${(err as Error).message}`), peer);
      return;
    }
    return this.mailbox.push({ data, peer, fds }, pipe.account, frame.length);
  }

  /**
   * Sends to the peer (dialling: waiting in the queue while disconnected), or to every connected peer (listening).
   * Resolves once the message is with the transport, or dropped by the policy.
   */
  async send(message: T, options: SendOptions = {}): Promise<void> {
    const body = this.codec.encode(message);
    if (this.endpoint instanceof DiallingEndpoint) return this.endpoint.send(undefined, body, options.fds);
    await Promise.all([...this.endpoint.pipes].map((pipe) => this.endpoint.sendTo(pipe, undefined, body, options.fds)));
  }

  /** Sends to one peer: one that sent a message (`message.peer`) or came (the `connected` event). */
  sendTo(peer: ChannelPeer, message: T, options: SendOptions = {}): Promise<void> {
    return this.endpoint.sendTo(this.pipeOf(peer), undefined, this.codec.encode(message), options.fds);
  }

  /** The next message; `null` once the channel is closed. */
  recv(options?: WaitOptions): Promise<Message<T> | null> {
    return this.mailbox.next(options);
  }

  [Symbol.asyncIterator](): AsyncIterator<Message<T>> {
    return this.mailbox[Symbol.asyncIterator]();
  }
}
