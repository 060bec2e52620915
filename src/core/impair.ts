// Impairments for relay(): toxiproxy's toxics, for every network. What one direction of a session forwards goes
// through a Link, which delays, paces, slices, drops, duplicates, reorders or swallows it, in that order, and cuts
// the session when told to. Deterministic given a seed: every decision is drawn, in arrival order, from a PRNG
// seeded by (seed, session number, direction).
import type { Account } from './budget.js';

/** What a relay does to what it forwards one way. */
export interface Impairment {
  /** Each chunk or datagram arrives this many ms late. */
  delay?: number;
  /** The delay varies by up to this many ms either way (uniformly); a stream's bytes keep their order. */
  jitter?: number;
  /** Bytes per second at most (a datagram leaves whole, once its time has come). */
  rate?: number;
  /** Cut each chunk (or datagram) into pieces of at most this many bytes, each written on its own. */
  slice?: number;
  /**
   * After this many bytes forwarded, the session is reset (TCP: an RST; others: closed). Messages are not cut: the
   * one that would cross the line is not sent.
   */
  resetAfter?: number;
  /** This many ms after the session opened, it is closed. */
  closeAfter?: number;
  /** Take every byte, forward none. */
  stall?: boolean;
  /** Message networks (udp, unixgram, unixpacket) only: the share (0-1) of messages dropped. */
  loss?: number;
  /** ... sent twice. */
  duplicate?: number;
  /** ... held back until the next has gone (or for REORDER_HOLD ms, or the delay if longer, when none comes). */
  reorder?: number;
}

/** `relay(a, b, { impair })`: per direction, and the seed that makes a run repeatable. */
export interface Impairments {
  toTarget?: Impairment;
  toClient?: Impairment;
  /** Default: a random one. */
  seed?: number;
}

/** What the impairments did: a session's, reported with its close, and a relay's, live (RelayServer.impaired). */
export interface ImpairedCounts {
  lost: number;
  duplicated: number;
  reordered: number;
  /** Bytes taken and not forwarded (stall). */
  stalled: number;
}

export const noneImpaired = (): ImpairedCounts => ({ lost: 0, duplicated: 0, reordered: 0, stalled: 0 });

/**
 * Bytes a link may hold for later (delay, rate): past them a stream's reader waits, a datagram is dropped. What
 * it holds is charged to the client's account too, so the server's budget (peerBytes, serverBytes) bounds them all.
 */
export const LINK_BYTES = 4 << 20;
/** How long a reordered message waits for one to overtake it. */
export const REORDER_HOLD = 10;

/** The underlying side a link writes to (relay's End). */
export interface LinkTarget {
  write(data: Buffer): Promise<void>;
  end(): Promise<void>;
}

/** How a link acts on its session: resets it, reports that the side it writes to failed, and counts what it did. */
export interface LinkSession {
  reset(): void;
  /** Writing to this link's side failed (that side is gone). */
  writeFailed(link: Link, err: Error): void;
  /** Adds to what the impairments did. */
  count(what: keyof ImpairedCounts, n?: number): void;
  /** Datagrams dropped because the link was full. */
  dropped: number;
  /** The client's account, charged what the link holds: the server's budget bounds every session's links together. */
  readonly account?: Account | undefined;
}

/** mulberry32: a small, fast PRNG with a 32-bit state, enough for drawing impairments repeatably. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of one direction of one session. */
export const linkSeed = (seed: number, session: number, toClient: boolean): number =>
  (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(session, 0xc2b2ae35) + (toClient ? 0x27d4eb2f : 0)) >>> 0;

interface Item {
  data: Buffer | null; // null: the end (half-close)
  due: number; // performance.now() ms
}

/**
 * One direction of a session, impaired. `messages`: the side written carries messages (each write one datagram or
 * seqpacket message), so that loss, duplication and reordering mean something; on a byte stream they are refused
 * before a link is made (see impairmentProblem).
 */
export class Link {
  private queue: Item[] = [];
  private held = 0; // bytes in the queue
  private forwarded = 0; // bytes handed on (or queued to be)
  private nextFree = 0; // when the rate lets the next byte go
  private lastDue = 0;
  private running = false;
  private cut = false;
  private room: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Ends the delivery's wait early: something came due sooner, or the link was aborted. */
  private wake: (() => void) | undefined;
  private reordered: Item | undefined;
  /** Resolves end()'s promise. */
  private ended: (() => void) | undefined;
  /** Resolve drain()'s promises: the queue has emptied, or the link was aborted. */
  private drained: (() => void)[] = [];

  constructor(private to: LinkTarget, private imp: Impairment, private messages: boolean, private session: LinkSession,
    private random: () => number) {}

  /** Takes a chunk (or datagram); resolves once the link has room for more (a stream's backpressure). */
  async write(data: Buffer): Promise<void> {
    const imp = this.imp;
    if (this.cut) return;
    if (imp.stall) {
      this.session.count('stalled', data.length);
      return;
    }
    if (this.messages && imp.loss && this.random() < imp.loss) {
      this.session.count('lost');
      return;
    }
    let reset = false;
    if (imp.resetAfter !== undefined && this.forwarded + data.length >= imp.resetAfter) {
      // A stream goes on up to the byte; a message that would cross the line is not sent (none is cut short).
      const fits = this.messages ? this.forwarded + data.length === imp.resetAfter : true;
      data = fits ? data.subarray(0, imp.resetAfter - this.forwarded) : data.subarray(0, 0);
      reset = true;
    }
    this.forwarded += data.length;
    const copies = this.messages && imp.duplicate && this.random() < imp.duplicate ? 2 : 1;
    if (copies === 2) this.session.count('duplicated');
    const hold = this.messages && imp.reorder !== undefined && imp.reorder > 0 && this.random() < imp.reorder;
    for (let c = 0; c < copies && data.length > 0; c++) {
      for (const piece of this.pieces(data)) this.enqueue(piece, hold && c === 0);
    }
    if (reset) {
      this.cut = true;
      this.queue.push({ data: null, due: -1 }); // -1: reset here rather than end
    }
    this.pump();
    if (!this.messages && this.held > LINK_BYTES && !this.cut) await new Promise<void>((resolve) => (this.room = resolve));
  }

  /**
   * The half-close, after what is queued: resolves once it has been passed on (a stalled link passes on none, a
   * reset or aborted one has nothing more to pass on).
   */
  async end(): Promise<void> {
    if (this.cut || this.imp.stall) return;
    this.cut = true;
    this.flushReordered();
    await new Promise<void>((resolve) => {
      this.ended = resolve;
      this.queue.push({ data: null, due: this.lastDue });
      this.pump();
    });
  }

  /**
   * Takes nothing more and resolves once what it holds has gone, in order and at its times (its end or reset too, if
   * queued): the other side failed, and what the relay took from it before is still owed, as packets already in
   * flight on a real link would still arrive.
   */
  drain(): Promise<void> {
    this.cut = true;
    this.flushReordered();
    if (this.queue.length === 0 && !this.running) return Promise.resolve();
    const drained = new Promise<void>((resolve) => this.drained.push(resolve));
    this.pump();
    return drained;
  }

  /** Drops what is queued (the session is being torn down). */
  abort(): void {
    this.cut = true;
    this.queue = [];
    this.session.account?.add(-this.held);
    this.held = 0;
    this.reordered = undefined;
    this.wakeUp();
    this.room?.();
    this.ended?.();
    this.settle();
  }

  private settle(): void {
    for (const resolve of this.drained.splice(0)) resolve();
  }

  private wakeUp(): void {
    clearTimeout(this.timer);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private *pieces(data: Buffer): Generator<Buffer> {
    let size = this.imp.slice ?? data.length;
    // A paced stream moves in pieces of a 50th of a second's bytes, so that it flows rather than lurches.
    if (!this.messages && this.imp.rate) size = Math.min(size, Math.max(1, Math.floor(this.imp.rate / 50)));
    if (size <= 0 || data.length <= size) {
      yield data;
      return;
    }
    for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
  }

  private enqueue(data: Buffer, hold: boolean): void {
    const imp = this.imp;
    const now = performance.now();
    let due = now + (imp.delay ?? 0);
    if (imp.jitter) due += (this.random() * 2 - 1) * imp.jitter;
    if (!this.messages || !imp.jitter) due = Math.max(due, this.lastDue); // a stream's bytes keep their order
    this.lastDue = Math.max(this.lastDue, due);
    const account = this.session.account;
    if (this.messages && (this.held + data.length > LINK_BYTES || (account && !account.allowed))) {
      this.session.dropped++;
      return;
    }
    const item = { data, due };
    this.held += data.length;
    account?.add(data.length);
    if (hold) {
      this.flushReordered();
      item.due = due + Math.max(REORDER_HOLD, imp.delay ?? 0);
      this.reordered = item;
      this.session.count('reordered');
      return;
    }
    this.insert(item);
    // The held one goes right after the next that overtakes it.
    if (this.reordered) this.flushReordered(due);
  }

  private flushReordered(due?: number): void {
    const r = this.reordered;
    if (!r) return;
    this.reordered = undefined;
    if (due !== undefined) r.due = due;
    this.insert(r);
  }

  /** In order of due time (ties: arrival order). */
  private insert(item: Item): void {
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.due > item.due && this.queue[i - 1]!.data !== null) i--;
    this.queue.splice(i, 0, item);
    if (i === 0) this.wakeUp();
  }

  /** Hands on what is due, pacing by the rate; waits (a timer) for the next due time. */
  private pump(): void {
    if (this.running) return;
    this.running = true;
    this.deliver().catch((err: Error) => this.session.writeFailed(this, err));
  }

  private async deliver(): Promise<void> {
    try {
      for (;;) {
        if (this.reordered && this.queue.length === 0) {
          // Nothing came to overtake it in time: it goes when its hold ends.
          this.insert(this.reordered);
          this.reordered = undefined;
        }
        const head = this.queue[0];
        if (!head) return;
        const now = performance.now();
        let at = head.due;
        if (head.data && this.imp.rate) at = Math.max(at, this.nextFree);
        if (at > now + 0.5) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            this.timer = setTimeout(resolve, Math.ceil(at - now));
          });
          this.wake = undefined;
          if (this.queue[0] !== head || performance.now() < at - 0.5) continue; // aborted, or one came due sooner
        }
        this.queue.shift();
        if (head.data === null) {
          if (head.due === -1) this.session.reset();
          else await this.to.end().finally(this.ended);
          return;
        }
        if (this.imp.rate) this.nextFree = Math.max(now, this.nextFree) + (head.data.length * 1000) / this.imp.rate;
        this.held -= head.data.length;
        this.session.account?.add(-head.data.length);
        await this.to.write(head.data);
        if (this.held <= LINK_BYTES / 2 && this.room) {
          const room = this.room;
          this.room = undefined;
          room();
        }
      }
    } finally {
      this.running = false; // before the promise settles: a write right after must start a new delivery
      if (this.queue.length === 0) this.settle();
    }
  }
}

/**
 * Why an impairment cannot act on a side, or undefined: loss, duplication and reordering act on messages, and a
 * byte stream has none (they would cut a stream at random).
 */
export function impairmentProblem(imp: Impairment | undefined, messages: boolean, side: string): string | undefined {
  if (!imp) return undefined;
  for (const [key, value] of [['loss', imp.loss], ['duplicate', imp.duplicate], ['reorder', imp.reorder]] as const) {
    if (value === undefined) continue;
    if (!(value >= 0 && value <= 1)) return `${key} is a share between 0 and 1, not ${value}`;
    if (value > 0 && !messages) return `${key} acts on messages, and ${side} is a byte stream`;
  }
  for (const [key, value] of [['delay', imp.delay], ['jitter', imp.jitter], ['closeAfter', imp.closeAfter]] as const) {
    if (value !== undefined && !(value >= 0 && Number.isFinite(value))) return `${key} must be a number of ms, at least 0`;
  }
  for (const [key, value] of [['rate', imp.rate], ['slice', imp.slice]] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) return `${key} must be a whole number of bytes, at least 1`;
  }
  if (imp.resetAfter !== undefined && !(Number.isInteger(imp.resetAfter) && imp.resetAfter >= 0)) {
    return 'resetAfter must be a whole number of bytes';
  }
  return undefined;
}
