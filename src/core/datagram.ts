import { isIP } from 'node:net';
import { parseAddress, type Address, type InetAddress, type Network } from './address.js';
import { abortError, closedError, Codes, NetError, wrap } from './errors.js';
import type { DatagramRecorder } from './record.js';
import { Inbox } from './inbox.js';
import { rowOf } from './networks.js';
import { resolveInet } from './resolve.js';
import type {
  Data, Datagram, OptionName, OptionValue, PeerCredentials, SendOptions, SocketOptions, WaitOptions,
} from './types.js';
import type { DatagramReceiver, PeerGate, ServableDatagramSocket } from './adapter.js';

/** What a datagram handle did with a send that did not fail. */
export type SendOutcome = 'sent' | 'queued' | 'dropped';

/**
 * What the datagram socket needs of the layer below (src/native implements it): one bound socket that receives
 * in batches and sends, encoding addresses its own way. Errors are thrown or reported as errno errors; this
 * module turns them into NetErrors.
 */
export interface DatagramHandle extends SocketOptions {
  /** Starts or stops reading; a stopped socket leaves datagrams in the kernel's queue. */
  read(on: boolean): void;
  /**
   * Sends one datagram to `to` (an IP literal or unix address; null: the connected peer). 'queued' sends
   * complete in order through {@link DatagramEvents.sent}; a failure now is thrown.
   */
  send(data: Uint8Array, to: Address | null, fds: readonly number[] | null): SendOutcome;
  /** Sets the default peer (connect(2)). */
  connect(to: Address): void;
  /** Closes what came with undelivered datagrams. */
  closeFds(fds: readonly number[]): void;
  /** Closes the socket at once; nothing is reported after it. */
  close(): void;
}

/** What the handle reports, as it happens. */
export interface DatagramEvents {
  /** `credentials`: the sender's (unixgram); undefined on udp. */
  datagram(data: Buffer, from: Address | null, truncated: boolean, fds: number[], credentials: PeerCredentials | undefined): void;
  /** `count` queued sends completed, in order; `failure(i)` is the error of the i-th, if it failed. */
  sent(count: number, failure: ((i: number) => Error | undefined) | undefined): void;
  /** Datagrams dropped by policy below: owed to a unixgram receiver judged gone, or sent by a peer over its backlog share. */
  dropped(count: number): void;
  /** A receive error that does not end the socket (an ICMP error on connected UDP, say). */
  error(err: Error): void;
}

/** What an adapter hands over: how to open the handle (with this socket's events), and how to release its name. */
export interface DatagramParts {
  network: Network;
  localAddr: Address;
  open(events: DatagramEvents): DatagramHandle;
  recvQueue?: number;
  /** Who may send (unixgram): a refused sender's datagram is dropped before anything sees it. */
  gate?: PeerGate;
  /** Runs after the socket is closed (the unixgram adapter removes its socket file). */
  release?(): Promise<void>;
}

interface Queued {
  resolve(): void;
  reject(err: unknown): void;
  to: Address | null;
}

const DONE = Promise.resolve();

/**
 * The datagram socket of every datagram network (udp, udp4, udp6, unixgram): a bounded queue for `recvFrom`,
 * sends in call order with their completions, connect, backpressure (a full queue, or serve() holding it, stops
 * reading) and errors, over one {@link DatagramHandle}.
 */
export class DatagramSocketImpl implements ServableDatagramSocket {
  readonly network: Network;
  readonly localAddr: Address;
  remoteAddr: Address | null = null;
  dropped = 0;
  onDatagram: DatagramReceiver | undefined;
  /** Told every datagram received and sent, when the socket is recorded (see core/record.ts). */
  recorder: DatagramRecorder | undefined;
  private handle: DatagramHandle;
  private inbox: Inbox<Datagram>;
  /** The queue is full: reading stops until the application takes from it. */
  private queueFull = false;
  /** serve() holds reading while its handlers are behind. */
  private held = false;
  private queued: Queued[] = [];
  private queuedHead = 0;
  /** Destinations already checked: of this socket's family, with nothing to look up (checked once per object). */
  private ready = new WeakSet<Address>();
  private closing: Promise<void> | undefined;

  constructor(private parts: DatagramParts) {
    this.network = parts.network;
    this.localAddr = parts.localAddr;
    this.inbox = new Inbox<Datagram>(parts.recvQueue ?? 4096);
    this.handle = parts.open({
      datagram: (data, from, truncated, fds, credentials) => {
        if (parts.gate && !parts.gate.admitsDatagram(credentials, from)) {
          if (fds.length > 0) this.handle.closeFds(fds);
          return;
        }
        this.recorder?.(true, data, from);
        if (this.onDatagram) this.onDatagram(data, from, credentials);
        else this.enqueue({ data, from, truncated, fds, credentials });
      },
      sent: (count, failure) => this.onSent(count, failure),
      dropped: (count) => (this.dropped += count),
      error: (err) => this.inbox.raise(wrap('recv', this.network, this.remoteAddr ?? this.localAddr, err)),
    });
    this.handle.read(true);
  }

  get fd(): number {
    return this.closing ? -1 : this.handle.fd;
  }

  get refused(): number {
    return this.parts.gate?.refused ?? 0;
  }

  private enqueue(d: Datagram): void {
    // A full queue stops reading: the kernel's buffer takes over (udp drops there, unixgram senders wait).
    if (!this.inbox.push(d) && !this.queueFull) {
      this.queueFull = true;
      this.applyReading();
    }
  }

  /** serve() stops reading while its handlers are behind… */
  pause(): void {
    this.held = true;
    this.applyReading();
  }

  /** …and reading goes on once they caught up. */
  resume(): void {
    this.held = false;
    this.applyReading();
  }

  /** Reading runs unless the queue is full or serve() holds it. */
  private applyReading(): void {
    if (!this.closing) this.handle.read(!this.queueFull && !this.held);
  }

  private onSent(count: number, failure: ((i: number) => Error | undefined) | undefined): void {
    for (let i = 0; i < count; i++) {
      const q = this.queued[this.queuedHead]!;
      this.queued[this.queuedHead++] = undefined as unknown as Queued;
      const err = failure?.(i);
      if (err) q.reject(this.sendError(err, q.to));
      else q.resolve();
    }
    if (this.queuedHead === this.queued.length) {
      this.queued.length = 0;
      this.queuedHead = 0;
    }
  }

  private sendError(err: unknown, to: Address | null): NetError {
    return wrap('send', this.network, to ?? this.remoteAddr ?? undefined, err, this.localAddr);
  }

  sendTo(data: Data, to: Address | string | null, options?: SendOptions): Promise<void> {
    if (to === null) {
      return Promise.reject(new NetError({ op: 'send', network: this.network, code: Codes.UNNAMED_PEER,
        detail: 'the sender is an unnamed unix socket: it cannot be answered' }));
    }
    let addr: Address;
    let lookup: boolean;
    try {
      addr = typeof to === 'string' ? parseAddress(to) : to;
      lookup = this.needsLookup(addr);
    } catch (err) {
      return Promise.reject(err);
    }
    // Synchronous for IP literals and unix names, so that datagrams leave in the order of the calls; only a
    // host name waits for its lookup (per send, not cached: DNS answers change).
    if (lookup) return this.lookup(addr as InetAddress).then((literal) => this.transmit(data, literal, options));
    return this.transmit(data, addr, options);
  }

  /**
   * Whether `addr` (of the right family for this socket, else EAFNOSUPPORT) has a host name to look up. Checked
   * once per address object: a reply to a sender's own address costs a set lookup, not a parse.
   */
  private needsLookup(addr: Address): boolean {
    if (this.ready.has(addr)) return false;
    if ((rowOf(this.network).family === 'unix') !== 'path' in addr) {
      throw new NetError({ op: 'send', network: this.network, addr, code: 'EAFNOSUPPORT',
        detail: `a ${this.network} socket cannot send to a ${addr.network} address` });
    }
    if ('host' in addr && isIP(addr.host.replace(/%.*$/, '')) === 0) return true;
    this.ready.add(addr);
    return false;
  }

  /** The address with its host name (or empty host: loopback) looked up. */
  private async lookup(addr: InetAddress): Promise<Address> {
    try {
      return { ...addr, host: (await resolveInet(addr, 'connect')).host };
    } catch (err) {
      throw wrap('send', this.network, addr, err, this.localAddr);
    }
  }

  send(data: Data, options?: SendOptions): Promise<void> {
    if (this.remoteAddr === null && !this.closing) {
      return Promise.reject(new NetError({ op: 'send', network: this.network, code: 'EDESTADDRREQ' }));
    }
    return this.transmit(data, null, options);
  }

  private transmit(data: Data, to: Address | null, options?: SendOptions): Promise<void> {
    if (this.closing) return Promise.reject(closedError('send', this.network, to ?? this.remoteAddr ?? undefined));
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const fds = options?.fds?.length ? options.fds : null;
    if (fds && !rowOf(this.network).fds) {
      return Promise.reject(new NetError({ op: 'send', network: this.network, addr: to ?? undefined, code: 'EOPNOTSUPP',
        detail: 'descriptors travel over unix sockets only' }));
    }
    let outcome: SendOutcome;
    this.recorder?.(false, bytes, to ?? this.remoteAddr);
    try {
      outcome = this.handle.send(bytes, to, fds);
    } catch (err) {
      return Promise.reject(this.sendError(err, to));
    }
    if (outcome === 'sent') return DONE;
    if (outcome === 'queued') return new Promise((resolve, reject) => this.queued.push({ resolve, reject, to }));
    this.dropped++;
    return DONE;
  }

  recvFrom(options?: WaitOptions): Promise<Datagram> {
    const next = this.inbox.next(options?.signal, this.recvAborted);
    if (this.queueFull && !this.inbox.full) {
      this.queueFull = false;
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
      this.handle.connect(this.needsLookup(addr) ? await this.lookup(addr as InetAddress) : addr);
    } catch (err) {
      throw wrap('dial', this.network, addr, err, this.localAddr);
    }
    this.remoteAddr = addr;
  }

  getOption(name: OptionName): Promise<OptionValue> {
    return this.handle.getOption(name);
  }

  setOption(name: OptionName, value: OptionValue): Promise<void> {
    return this.handle.setOption(name, value);
  }

  /** Closes at once: nothing is delivered after it (even inside a handler), queued sends reject. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.handle.close();
      this.inbox.end();
      // Nothing is delivered after close(); descriptors that came with undelivered datagrams are closed.
      for (const d of this.inbox.takeAll()) this.handle.closeFds(d.fds);
      const err = closedError('send', this.network, this.remoteAddr ?? undefined);
      for (let i = this.queuedHead; i < this.queued.length; i++) this.queued[i]!.reject(err);
      this.queued = [];
      await this.parts.release?.();
    })();
    return this.closing;
  }
}
