/**
 * A listening channel's endpoint: accepts connections (each within the byte budget and its place among the
 * peers, see core/budget.ts) or hears datagram peers (each address heard from is a peer), until closed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { bind, listen, raiseDescriptorLimit } from '../api.js';
import { formatAddress, type Address } from '../core/address.js';
import {
  Budget, defaultMaxPeers, descriptorNotices, evicted, EVICTED, fullRefusal, OUT_OF_FDS, REFUSED, SILENT, Slots,
} from '../core/budget.js';
import { closedError, Codes, timedOut, type NetError } from '../core/errors.js';
import { isStreamNetwork } from '../core/networks.js';
import type { StreamConn } from '../core/stream.js';
import type { Conn, Datagram, DatagramSocket, Listener } from '../core/types.js';
import { Endpoint, type ChannelListenOptions, type HeartbeatOptions, type Protocol } from './endpoint.js';
import { Outbox, type Policy } from './outbox.js';
import { ConnPipe, DatagramPipe, peerOf, type Pipe } from './pipe.js';

/** A connection's place among a listening channel's peers, from its accept on (see Slots). */
interface Place {
  /** It has sent a message. */
  spoke: boolean;
  /** When it was accepted (Date.now()). */
  since: number;
  remote: Address;
  /** Closes what the connection is now (the accepted socket, or the pipe over it). */
  close(err: Error): void;
}

const FORGOTTEN = 'datagram peers forgotten, their heartbeats unanswered for three intervals';

export class ListeningEndpoint extends Endpoint {
  /** Connections refused by the allow list, or with every place taken by peers that have spoken. */
  private refusedOver = 0;
  /** The peers' byte budget and their places (stream transports). */
  private budget: Budget | undefined;
  private slots: Slots<Place> | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** Says when descriptors run out (stream transports). */
  private fds: ReturnType<typeof descriptorNotices> | undefined;
  private maxPeers: number;
  /** Messages owed to peers that went away. */
  private droppedGone = 0;
  private byAddress = new Map<string, DatagramPipe>();
  private listener: Listener | undefined;
  private sock: DatagramSocket | undefined;

  /** `firstMessageTimeout`: the pattern's default (see {@link ChannelListenOptions.firstMessageTimeout}). */
  constructor(addr: Address | string, protocol: Protocol, protected override readonly options: ChannelListenOptions & HeartbeatOptions,
    defaultPolicy: Policy, private readonly firstMessageTimeout = 0) {
    super('listen', addr, protocol, options, defaultPolicy);
    this.maxPeers = options.maxPeers ?? 0; // 0: set at start, from the descriptor limit
  }

  /** Listens on (or binds) the address and takes peers until closed. */
  protected async open(): Promise<void> {
    const a = this.target;
    const nofile = raiseDescriptorLimit();
    this.maxPeers ||= defaultMaxPeers(nofile);
    if (isStreamNetwork(a.network)) {
      this.budget = new Budget(this.options);
      this.slots = new Slots(this.maxPeers, (place) => place.spoke);
      this.listener = await listen(a, this.options);
      this.addr = this.listener.addr;
      const first = this.options.firstMessageTimeout ?? this.firstMessageTimeout;
      if (first > 0) this.sweeper = this.sweepSilent(first);
      this.fds = descriptorNotices(this.network, () => this.addr, nofile, (err) => this.report(err, null));
      void this.acceptLoop(this.listener);
    } else {
      const sock = this.sock = await bind(a, this.options);
      this.addr = sock.localAddr;
      this.readDatagrams(sock, (d) => this.datagramPeer(sock, d)).catch((err: Error) => this.report(err, null));
    }
  }

  /** Connections or datagrams refused: by the allow list, or over `maxPeers`. */
  override get refused(): number {
    return this.refusedOver + (this.listener?.refused ?? this.sock?.refused ?? 0);
  }

  /** Messages dropped by the queue policy, over all peers (and those owed to peers that went away). */
  get dropped(): number {
    let n = this.droppedGone + (this.sock?.dropped ?? 0);
    for (const p of this.pipes) n += p.outbox.dropped;
    return n;
  }

  /** Also an unnamed datagram sender of this channel's socket (which cannot be answered). */
  override owns(pipe: Pipe): boolean {
    return super.owns(pipe) || (pipe instanceof DatagramPipe && pipe.unnamed && pipe.socket === this.sock);
  }

  /** Each peer has a queue of its own. */
  protected outboxFor(pipe: Pipe): Outbox {
    return new Outbox(this.network, this.policy, this.options.highWater, (err) => this.writeFailed(pipe, err));
  }

  /** What a peer that went away was owed fails, and is counted. */
  protected released(pipe: Pipe, err: Error | undefined): void {
    this.droppedGone += pipe.outbox.queued;
    pipe.outbox.fail(err ?? closedError('send', this.network, pipe.peer.addr ?? undefined));
    if (pipe instanceof DatagramPipe && pipe.peer.addr) this.byAddress.delete(formatAddress(pipe.peer.addr));
  }

  /** Datagram peers come and go without a word: forgetting them is churn, told a few lines per flood. */
  protected override peerDead(pipe: Pipe, err: NetError): void {
    if (pipe instanceof DatagramPipe) this.notices.say(FORGOTTEN, err);
  }

  protected async stopOwn(): Promise<void> {
    clearInterval(this.sweeper);
    this.fds?.stop();
    await Promise.all([this.listener?.close(), this.sock?.close()]);
  }

  private async acceptLoop(listener: Listener): Promise<void> {
    for (;;) {
      let conn: Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if ((err as NetError).code === Codes.CLOSED) return;
        // Descriptors ran out: said once until an accept works (the listener pauses meanwhile, so nothing spins).
        if (OUT_OF_FDS.has((err as NetError).code)) this.fds!.failed((err as NetError).code);
        else this.report(err as Error, null);
        await sleep(10);
        continue;
      }
      this.serveConn(conn);
    }
  }

  /** Closes peers that have not sent a message within `ms` of their accept (one timer for all, a few looks per period). */
  private sweepSilent(ms: number): NodeJS.Timeout {
    const timer = setInterval(() => {
      const now = Date.now();
      for (const place of this.slots!) {
        if (place.spoke || now - place.since < ms) continue;
        place.spoke = true; // closed once
        const err = timedOut('accept', `no message within ${ms} ms of connecting: closed`, this.network, place.remote);
        this.notices.say(SILENT, err);
        place.close(err);
      }
    }, Math.max(10, Math.min(1000, ms / 4)));
    timer.unref();
    return timer;
  }

  /**
   * A new connection takes a place (or the place of a silent one) and gets its pipe, which is then served until
   * it ends. In two steps, so that what runs as long as the peer stays holds only the pipe: the connection as
   * accepted (on unix, a socket handed on to the addon) is not kept alive by a suspended function that took it.
   */
  private serveConn(accepted: Conn): void {
    void this.admit(accepted).then((admitted) => admitted && this.runPlace(...admitted));
  }

  /** The connection's place and pipe, or undefined when it was refused (full, or its handshake failed). */
  private async admit(accepted: Conn): Promise<[ConnPipe, Place] | undefined> {
    const place: Place = { spoke: false, since: Date.now(), remote: accepted.remoteAddr, close: (err) => accepted.stream.destroy(err) };
    const evict = (silent: Place) => {
      const err = evicted(this.network, silent.remote);
      this.notices.say(EVICTED, err);
      silent.close(err);
    };
    if (!this.slots!.admit(place, evict)) {
      this.refusedOver++;
      accepted.stream.destroy();
      this.notices.say(REFUSED, fullRefusal(this.network, accepted.remoteAddr, this.maxPeers, 'peer'));
      return undefined;
    }
    try {
      // The peer's account is charged for what it sends, from the first byte; its place closes the connection as it is now.
      return [await this.connPipe(accepted, (c) => {
        place.close = (err) => c.stream.destroy(err);
        (c as StreamConn).account = this.budget!.account();
      }), place];
    } catch (err) {
      this.slots!.free(place);
      this.refusedOver += (err as NetError).code === 'EACCES' ? 1 : 0;
      this.report(err as Error, null);
      return undefined;
    }
  }

  /** Serves the connection until it ends, then frees its place (a promise chain: see runConn). */
  private runPlace(pipe: ConnPipe, place: Place): Promise<void> {
    place.close = (err) => pipe.close(err);
    pipe.onFirstMessage = () => (place.spoke = true);
    return this.runConn(pipe).then(() => this.slots!.free(place), (err: unknown) => {
      this.slots!.free(place);
      throw err;
    });
  }

  /**
   * The pipe of a datagram sender, made when first heard from. An unnamed sender (each datagram may be another
   * one, known by its credentials) gets a pipe of its own that is never kept and cannot be answered.
   */
  private datagramPeer(sock: DatagramSocket, d: Datagram): DatagramPipe {
    const from = d.from;
    if (from === null) return new DatagramPipe(sock, null, peerOf(this.network, null, d.credentials), false);
    const key = formatAddress(from);
    let pipe = this.byAddress.get(key);
    if (pipe) {
      // Most recently heard last: the first in the map is the longest silent.
      this.byAddress.delete(key);
      this.byAddress.set(key, pipe);
      return pipe;
    }
    if (this.byAddress.size >= this.maxPeers) this.byAddress.values().next().value!.close();
    pipe = new DatagramPipe(sock, from, peerOf(this.network, from, d.credentials), false);
    this.byAddress.set(key, pipe);
    this.attach(pipe);
    void pipe.ended.then((err) => this.detach(pipe!, err));
    return pipe;
  }
}
