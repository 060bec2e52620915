/**
 * A dialling channel's endpoint: one connection (or one connected datagram socket) at a time, redialled with
 * backoff when it drops, and one send queue kept across its connections.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { bindTo, dial } from '../api.js';
import type { Address } from '../core/address.js';
import { closedError, type NetError } from '../core/errors.js';
import { isStreamNetwork } from '../core/networks.js';
import {
  Endpoint, type ChannelDialOptions, type HeartbeatOptions, type Protocol, type ReconnectOptions, type RetryEvent,
} from './endpoint.js';
import { Outbox, type Handed, type Policy } from './outbox.js';
import { ConnPipe, DatagramPipe, peerOf, type Pipe } from './pipe.js';

/** A connection that lasted this long was healthy: the next wait starts from the beginning again. */
const HEALTHY_MS = 1000;

export class DiallingEndpoint extends Endpoint {
  /** The one queue, kept across connections. */
  private readonly outbox: Outbox;

  constructor(addr: Address | string, protocol: Protocol, protected override readonly options: ChannelDialOptions & HeartbeatOptions,
    defaultPolicy: Policy) {
    super('dial', addr, protocol, options, defaultPolicy);
    // A datagram peer that went away (a restarted server) gets what it refused again, once redialled.
    this.outbox = new Outbox(this.network, this.policy, options.highWater, (err) => this.writeFailed(this.current(), err),
      !isStreamNetwork(this.network));
  }

  /** Resolves once connected (at once with `background`), and redials whenever the connection drops. */
  protected async open(): Promise<void> {
    const background = this.options.background;
    await new Promise<void>((resolve, reject) => {
      if (background) resolve();
      void this.dialLoop(this.target, background ? undefined : (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Sends to the dialled peer, waiting in the queue while disconnected. */
  send(head: Buffer | undefined, body: Uint8Array, fds?: readonly number[], handed?: Handed): Promise<void> {
    return this.enqueue(this.outbox, head, body, fds, handed);
  }

  get dropped(): number {
    return this.outbox.dropped;
  }

  /** Between connections, the queue waits for the next one. */
  override async flush(): Promise<void> {
    await super.flush();
    if (this.pipes.size === 0) await this.outbox.drained();
  }

  /** The pipe now, if connected. */
  private current(): Pipe | undefined {
    for (const p of this.pipes) return p;
    return undefined;
  }

  protected outboxFor(): Outbox {
    return this.outbox;
  }

  /** What is queued stays for the next connection. */
  protected released(): void {
    this.outbox.detach();
  }

  protected async stopOwn(closed: NetError): Promise<void> {
    this.outbox.fail(closed);
  }

  private async dialLoop(a: Address, first: ((err?: Error) => void) | undefined): Promise<void> {
    const r = this.options.reconnect === false ? undefined : this.options.reconnect ?? {};
    const initial = r?.initial ?? 100;
    let delay = initial;
    let attempt = 0;
    while (!this.closed) {
      let pipe: Pipe;
      try {
        pipe = await this.connect(a);
      } catch (err) {
        if (this.closed) break;
        if (first) {
          first(err as Error);
          void this.close();
          return;
        }
        if (!r) break;
        attempt++;
        delay = await this.backoff(attempt, delay, r, err as Error);
        continue;
      }
      first?.();
      first = undefined;
      attempt = 0;
      const since = Date.now();
      const err = pipe instanceof ConnPipe ? await this.runConn(pipe) : await this.runDatagram(pipe as DatagramPipe);
      if (this.closed) break;
      if (!r) {
        void this.close();
        break;
      }
      if (Date.now() - since >= HEALTHY_MS) delay = initial;
      else delay = await this.backoff(1, delay, r, err);
    }
    first?.(closedError('dial', this.network, this.addr));
  }

  /** Waits `delay` (±20%) and says so; the next delay. */
  private async backoff(attempt: number, delay: number, r: ReconnectOptions, error: Error | undefined): Promise<number> {
    const wait = Math.round(delay * (0.8 + 0.4 * Math.random()));
    this.emit('retrying', { attempt, delay: wait, error } satisfies RetryEvent);
    await sleep(wait, undefined, { signal: this.stop.signal }).catch(() => {});
    return Math.min(delay * (r.factor ?? 1.6), r.max ?? 5000);
  }

  private async connect(a: Address): Promise<Pipe> {
    const o = this.options;
    const signal = o.signal ? AbortSignal.any([o.signal, this.stop.signal]) : this.stop.signal;
    if (isStreamNetwork(a.network)) return this.connPipe(await dial(a, { tls: o.tls, local: o.local, signal }), undefined, signal);
    const sock = await bindTo(a, { local: o.local, recvQueue: o.recvQueue, maxDatagram: o.maxDatagram });
    return new DatagramPipe(sock, null, peerOf(this.network, sock.remoteAddr), true);
  }

  /** Reads the connected datagram socket (everything is from its one peer) until the pipe ends. */
  private async runDatagram(pipe: DatagramPipe): Promise<Error | undefined> {
    this.attach(pipe);
    this.readDatagrams(pipe.socket, () => pipe).then(() => pipe.close(), (err: Error) => pipe.close(err));
    const err = await pipe.ended;
    this.detach(pipe, err);
    return err;
  }
}
