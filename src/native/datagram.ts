import { isIP } from 'node:net';
import { parseAddress, type Address, type InetAddress, type Network } from '../core/address.js';
import { abortError, closedError, Codes, NetError, wrap } from '../core/errors.js';
import { Inbox } from '../core/inbox.js';
import { networkOf } from '../core/networks.js';
import { resolveInet } from '../core/resolve.js';
import type {
  Data, Datagram, DatagramSink, OptionName, OptionValue, SendOptions, ServableDatagramSocket, WaitOptions,
} from '../core/types.js';
import { decodeAddress, encodeAddress, errnoError, K, native, type Handle } from './index.js';
import { Control } from './options.js';

const DONE = Promise.resolve();
const NO_FDS: number[] = [];
Object.freeze(NO_FDS);

interface Queued {
  resolve(): void;
  reject(err: unknown): void;
  to: Address | null;
}

/** What the adapter hands over: an fd it has bound (and connected, if asked), and how to release its name. */
export interface DatagramParts {
  network: Network;
  fd: number;
  localAddr: Address;
  /** An IPv6 socket: IPv4 destinations go out v4-mapped. */
  v6: boolean;
  recvQueue?: number;
  maxDatagram?: number;
  /** Runs after the fd is closed (the unixgram adapter removes its socket file). */
  release?(): Promise<void>;
}

/**
 * The datagram socket of every datagram network (udp, udp4, udp6, unixgram): one native handle that receives in
 * recvmmsg batches and sends what a batch's handlers answer in one sendmmsg.
 */
export class NativeDatagramSocket implements ServableDatagramSocket {
  readonly network: Network;
  readonly localAddr: Address;
  remoteAddr: Address | null = null;
  dropped = 0;
  sink: DatagramSink | undefined;
  private h: Handle;
  private fdNumber: number;
  private v6: boolean;
  private inbox: Inbox<Datagram>;
  private paused = false;
  private held = false;
  private queued: Queued[] = [];
  private queuedHead = 0;
  /** The sender of the last datagram: the addon names a sender only when it changes. */
  private lastFrom: Address | null = null;
  /** Each destination's sockaddr, encoded once per address object. */
  private encoded = new WeakMap<Address, Buffer>();
  private control: Control;
  private closing: Promise<void> | undefined;

  constructor(private parts: DatagramParts) {
    this.network = parts.network;
    this.localAddr = parts.localAddr;
    this.fdNumber = parts.fd;
    this.v6 = parts.v6;
    this.inbox = new Inbox<Datagram>(parts.recvQueue ?? 4096);
    this.control = new Control(this.network, () => this.fd, () => this.localAddr);
    const slot = parts.maxDatagram ?? networkOf(this.network).maxMessage;
    this.h = native.open(parts.fd, K.MODE_DGRAM, slot, this.onEvent);
    native.read(this.h, true);
  }

  get fd(): number {
    return this.closing ? -1 : this.fdNumber;
  }

  private onEvent = (event: number, a?: unknown, b?: unknown, c?: unknown, d?: unknown): void => {
    if (event === K.EV_DGRAM) this.onBatch(a as number, b as Buffer, c as Buffer, d as (number[] | undefined)[] | undefined);
    else if (event === K.EV_SENT) this.onSent(a as number, b as Buffer | undefined);
    else if (event === K.EV_DROPPED) this.dropped += a as number;
    else if (event === K.EV_ERROR) {
      this.inbox.raise(wrap('recv', this.network, this.remoteAddr ?? this.localAddr, errnoError(a as number, 'recvmmsg')));
    }
  };

  private onBatch(n: number, data: Buffer, meta: Buffer, fdLists: (number[] | undefined)[] | undefined): void {
    const stride = K.META_STRIDE;
    let off = 0;
    for (let i = 0, m = 0; i < n; i++, m += stride) {
      const len = meta.readUInt32LE(m);
      const alen = meta.readUInt16LE(m + 8);
      if (alen === 0xffff) this.lastFrom = null;
      else if (alen !== 0) this.lastFrom = this.remember(meta, m + K.META_ADDR, alen);
      const chunk = data.subarray(off, off + len);
      off += len;
      if (this.sink) this.sink(chunk, this.lastFrom);
      else this.enqueue({ data: chunk, from: this.lastFrom, truncated: (meta[m + 10]! & 1) !== 0, fds: fdLists?.[i] ?? NO_FDS });
    }
  }

  /** Decodes a sender once and keeps its sockaddr, so that answering it costs no encoding. */
  private remember(meta: Buffer, o: number, len: number): Address | null {
    const from = decodeAddress(meta, o, len, this.network);
    if (from) this.encoded.set(from, Buffer.from(meta.subarray(o, o + len)));
    return from;
  }

  private enqueue(d: Datagram): void {
    // A full queue stops reading: the kernel's buffer takes over (udp drops there, unixgram senders wait).
    if (!this.inbox.push(d) && !this.paused) {
      this.paused = true;
      this.applyReading();
    }
  }

  /** serve() holds reading while its handlers are behind. */
  pause(held: boolean): void {
    this.held = held;
    this.applyReading();
  }

  /** Reading runs unless the queue is full or serve() holds it. */
  private applyReading(): void {
    if (!this.closing) native.read(this.h, !this.paused && !this.held);
  }

  private onSent(count: number, codes: Buffer | undefined): void {
    for (let i = 0; i < count; i++) {
      const q = this.queued[this.queuedHead]!;
      this.queued[this.queuedHead++] = undefined as unknown as Queued;
      const code = codes ? codes.readInt32LE(i * 4) : 0;
      if (code === 0) q.resolve();
      else q.reject(this.sendError(code, q.to));
    }
    if (this.queuedHead === this.queued.length) {
      this.queued.length = 0;
      this.queuedHead = 0;
    }
  }

  private sendError(negErrno: number, to: Address | null): NetError {
    return wrap('send', this.network, to ?? this.remoteAddr ?? undefined, errnoError(negErrno, 'sendmsg'), this.localAddr);
  }

  sendTo(data: Data, to: Address | string | null, options?: SendOptions): Promise<void> {
    if (to === null) {
      return Promise.reject(new NetError({ op: 'send', network: this.network, code: Codes.UNNAMED_PEER,
        detail: 'the sender is an unnamed unix socket: it cannot be answered' }));
    }
    let addr: Address;
    try {
      addr = typeof to === 'string' ? parseAddress(to) : to;
    } catch (err) {
      return Promise.reject(err);
    }
    let sa: Buffer | null | undefined = this.encoded.get(addr);
    if (!sa) {
      // Synchronous for IP literals and unix names, so that datagrams leave in the order of the calls; only a
      // host name waits for its lookup.
      try {
        sa = this.encode(addr);
      } catch (err) {
        return Promise.reject(err);
      }
      if (sa === null) return this.lookup(addr).then((b) => this.transmit(data, b, addr, options));
    }
    return this.transmit(data, sa, addr, options);
  }

  /** The sockaddr for `addr`, cached per address object; null when the host is a name to look up. */
  private encode(addr: Address): Buffer | null {
    if ((networkOf(this.network).family === 'unix') !== 'path' in addr) {
      throw new NetError({ op: 'send', network: this.network, addr, code: 'EAFNOSUPPORT',
        detail: `a ${this.network} socket cannot send to a ${addr.network} address` });
    }
    if ('host' in addr && isIP(addr.host.replace(/%.*$/, '')) === 0) return null;
    let sa: Buffer;
    try {
      sa = encodeAddress(addr, this.v6);
    } catch (err) {
      throw wrap('send', this.network, addr, err, this.localAddr);
    }
    this.encoded.set(addr, sa);
    return sa;
  }

  /** A host name (or the empty host, loopback) looked up per send and not cached, as DNS answers change. */
  private async lookup(addr: Address): Promise<Buffer> {
    try {
      return encodeAddress({ ...addr, host: (await resolveInet(addr as InetAddress, 'connect')).host } as Address, this.v6);
    } catch (err) {
      throw wrap('send', this.network, addr, err, this.localAddr);
    }
  }

  send(data: Data, options?: SendOptions): Promise<void> {
    if (this.remoteAddr === null && !this.closing) {
      return Promise.reject(new NetError({ op: 'send', network: this.network, code: 'EDESTADDRREQ' }));
    }
    return this.transmit(data, null, null, options);
  }

  private transmit(data: Data, sa: Buffer | null, to: Address | null, options?: SendOptions): Promise<void> {
    if (this.closing) return Promise.reject(closedError('send', this.network, to ?? this.remoteAddr ?? undefined));
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const fds = options?.fds?.length ? options.fds : null;
    if (fds && !networkOf(this.network).fds) {
      return Promise.reject(new NetError({ op: 'send', network: this.network, addr: to ?? undefined, code: 'EOPNOTSUPP',
        detail: 'descriptors travel over unix sockets only' }));
    }
    const r = native.send(this.h, bytes, sa, fds);
    if (r === K.SENT) return DONE;
    if (r === K.QUEUED) return new Promise((resolve, reject) => this.queued.push({ resolve, reject, to }));
    if (r === K.DROPPED) {
      this.dropped++;
      return DONE;
    }
    return Promise.reject(this.sendError(r, to));
  }

  recvFrom(options?: WaitOptions): Promise<Datagram> {
    const next = this.inbox.next(options?.signal, this.recvAborted);
    if (this.paused && !this.inbox.full) {
      this.paused = false;
      this.applyReading();
    }
    return next.then((d) => d ?? Promise.reject(closedError('recv', this.network, this.localAddr)));
  }

  private recvAborted = (signal: AbortSignal) => abortError('recv', this.network, this.localAddr, signal);

  [Symbol.asyncIterator](): AsyncIterator<Datagram> {
    return {
      next: () =>
        this.recvFrom().then(
          (value) => ({ value, done: false }),
          (err) => {
            if (err instanceof NetError && err.code === Codes.CLOSED) return { value: undefined, done: true };
            throw err;
          },
        ),
      return: async () => ({ value: undefined, done: true }),
    };
  }

  async connect(peer: Address | string): Promise<void> {
    const addr = typeof peer === 'string' ? parseAddress(peer) : peer;
    if (this.closing) throw closedError('dial', this.network, addr);
    try {
      native.connect(this.fdNumber, this.encode(addr) ?? (await this.lookup(addr)));
    } catch (err) {
      throw wrap('dial', this.network, addr, err, this.localAddr);
    }
    this.remoteAddr = addr;
  }

  getOption(name: OptionName): Promise<OptionValue> {
    return this.control.getOption(name);
  }

  setOption(name: OptionName, value: OptionValue): Promise<void> {
    return this.control.setOption(name, value);
  }

  /** Closes at once: nothing is delivered after it (even inside a handler), queued sends reject. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      native.hclose(this.h);
      this.inbox.end();
      // Nothing is delivered after close(); descriptors that came with undelivered datagrams are closed.
      for (const d of this.inbox.takeAll()) for (const fd of d.fds) native.close(fd);
      const err = closedError('send', this.network, this.remoteAddr ?? undefined);
      for (let i = this.queuedHead; i < this.queued.length; i++) this.queued[i]!.reject(err);
      this.queued = [];
      await this.parts.release?.();
    })();
    return this.closing;
  }
}
