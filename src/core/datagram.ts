import { parseAddress, type Address, type Network } from './address.js';
import { abortError, closedError, NetError, wrap } from './errors.js';
import { Inbox } from './inbox.js';
import type { Data, Datagram, DatagramSocket, WaitOptions } from './types.js';

/** What a datagram adapter supplies: the socket's own operations, in callback form. */
export interface DatagramPort {
  /** Sends one datagram to `to`, or to the connected peer when `to` is null. */
  send(data: Data, to: Address | null, done: (err?: Error | null) => void): void;
  connect(to: Address): Promise<void>;
  close(done: () => void): void;
}

/** Receives each datagram straight from the socket event, bypassing the queue (used by serve()). */
export type DatagramSink = (data: Buffer, from: Address) => void;

/**
 * A datagram socket in the DatagramSocket shape, over any adapter's {@link DatagramPort}. The adapter calls
 * {@link DatagramSocketImpl.deliver} for each datagram and {@link DatagramSocketImpl.fail} for socket errors.
 */
export class DatagramSocketImpl implements DatagramSocket {
  remoteAddr: Address | null = null;
  dropped = 0;
  sink: DatagramSink | undefined;
  private inbox: Inbox<Datagram>;
  private closing: Promise<void> | undefined;

  constructor(readonly network: Network, readonly localAddr: Address, private port: DatagramPort, queue = 4096) {
    this.inbox = new Inbox<Datagram>(queue);
  }

  deliver(data: Buffer, from: Address): void {
    if (this.sink) this.sink(data, from);
    // A full queue drops, as a full kernel receive buffer does: memory stays bounded.
    else if (this.inbox.full) this.dropped++;
    else this.inbox.push({ data, from });
  }

  /** A socket error (an ICMP-reported ECONNREFUSED on a connected socket, say) fails one receive. */
  fail(err: Error): void {
    this.inbox.raise(wrap('recv', this.network, this.remoteAddr ?? this.localAddr, err));
  }

  sendTo(data: Data, to: Address | string): Promise<void> {
    let addr: Address;
    try {
      addr = typeof to === 'string' ? parseAddress(to) : to;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.transmit(data, addr);
  }

  send(data: Data): Promise<void> {
    if (this.remoteAddr === null && !this.closing) {
      return Promise.reject(new NetError({ op: 'send', network: this.network, code: 'EDESTADDRREQ' }));
    }
    return this.transmit(data, null);
  }

  private transmit(data: Data, to: Address | null): Promise<void> {
    if (this.closing) return Promise.reject(closedError('send', this.network, to ?? this.remoteAddr ?? undefined));
    return new Promise((resolve, reject) => {
      this.port.send(data, to, (err) => {
        if (err) reject(wrap('send', this.network, to ?? this.remoteAddr ?? undefined, err, this.localAddr));
        else resolve();
      });
    });
  }

  async recvFrom(options?: WaitOptions): Promise<Datagram> {
    const d = await this.inbox.next(options?.signal, this.recvAborted);
    if (d === null) throw closedError('recv', this.network, this.localAddr);
    return d;
  }

  private recvAborted = (signal: AbortSignal) => abortError('recv', this.network, this.localAddr, signal);

  [Symbol.asyncIterator](): AsyncIterator<Datagram> {
    return this.inbox.iterate(this.recvAborted);
  }

  async connect(peer: Address | string): Promise<void> {
    const addr = typeof peer === 'string' ? parseAddress(peer) : peer;
    if (this.closing) throw closedError('dial', this.network, addr);
    try {
      await this.port.connect(addr);
    } catch (err) {
      throw wrap('dial', this.network, addr, err, this.localAddr);
    }
    this.remoteAddr = addr;
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.inbox.end();
      this.port.close(resolve);
    });
    return this.closing;
  }
}
