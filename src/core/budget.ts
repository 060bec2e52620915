/**
 * What a peer can make a server hold, decided in one place for every server shape (serve and the servers built
 * on it, channels, bench --serve): bytes, slots and time.
 *
 * - Bytes: each peer has an {@link Account} of what it makes the server hold — bytes received and not yet handled
 *   (an unfinished frame included) and bytes queued to it. Past the per-peer limit its reader stops reading
 *   until the account drains, so its sender blocks in the kernel as against a blocking server. Past the
 *   per-server limit (the sum over peers), the peers that hold the most stop reading. Nothing is charged before
 *   its bytes have arrived: a header announcing 16 MiB costs nothing until the bytes come.
 * - Slots: a server keeps `maxPeers` peers. When full, a newcomer takes the place of the peer that has been
 *   silent longest without ever having sent anything (a connection that only holds a slot); only when every peer
 *   has spoken is the newcomer refused, with a line that says so (ECONNREFUSED, never EMFILE).
 * - Time: a peer that has not finished its handshake or sent its first message in time is closed, where the
 *   protocol has the peer speak first (TLS's `handshakeTimeout`; repliers' and publishers' `firstMessageTimeout`).
 */
import { readdirSync } from 'node:fs';
import type { Address, Network } from './address.js';
import { NetError } from './errors.js';

export interface BudgetOptions {
  /**
   * Bytes one peer may make the server hold besides the message it is sending (received and not yet handled,
   * and queued to it); past it, reading from that peer stops until they drain. Default 16 MiB.
   */
  peerBytes?: number;
  /** Bytes all peers together may make the server hold; past it, the peers that hold the most stop. Default 64 MiB. */
  serverBytes?: number;
}

export const DEFAULT_PEER_BYTES = 16 * 1024 * 1024;
export const DEFAULT_SERVER_BYTES = 64 * 1024 * 1024;
/** How long a unixgram peer may leave what it is owed untaken before it is judged gone (see BindOptions.peerSilence). */
export const PEER_SILENCE_MS = 30_000;
/** A server that held this much for its peers gives the memory back to the system once they have let go of it. */
const RECLAIM_FROM = 16 * 1024 * 1024;

/** How a server gives memory back to the system: set by the public API (src/api.ts), which has the addon. */
let reclaimer: (() => void) | undefined;
export function setReclaimer(reclaim: () => void): void {
  reclaimer = reclaim;
}

/** A bound on what one peer, or all of them, may make a server hold. */
export class Budget {
  /** Bytes held over all accounts. */
  held = 0;
  /** Accounts holding anything: their number sets a fair share once the server is over its limit. */
  holders = 0;
  /** Accounts whose reader waits for room. */
  private waiting = new Set<Account>();
  readonly peerBytes: number;
  readonly serverBytes: number;
  /** The most held since memory was last given back. */
  private peak = 0;

  /**
   * `reclaim` (default: the one set with setReclaimer): called when what was held has mostly been let go of (below
   * an eighth of a peak of 16 MiB or more): garbage collection frees the buffers, and malloc's free pages go back
   * to the system. Without it, a process that held a gigabyte for peers that have gone keeps it resident.
   */
  constructor(options: BudgetOptions = {}, private reclaim = reclaimer) {
    this.peerBytes = options.peerBytes ?? DEFAULT_PEER_BYTES;
    this.serverBytes = options.serverBytes ?? DEFAULT_SERVER_BYTES;
    for (const [name, v] of [['peerBytes', this.peerBytes], ['serverBytes', this.serverBytes]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive whole number of bytes, not ${v}`);
    }
  }

  /** A new peer's account. */
  account(): Account {
    return new Account(this);
  }

  /** Whether `a` may read more now. */
  allows(a: Account): boolean {
    if (a.held - a.unfinished >= this.peerBytes) return false;
    if (this.held < this.serverBytes) return true;
    // Over the server's limit: those holding more than an equal share stop, the others go on (a newcomer with a
    // small message is still served while the big holders wait).
    return a.held < this.serverBytes / Math.max(1, this.holders);
  }

  /** @internal */
  changed(a: Account, before: number): void {
    if (before === 0 && a.held > 0) this.holders++;
    else if (before > 0 && a.held === 0) this.holders--;
    if (a.held > before) {
      if (this.held > this.peak) this.peak = this.held;
      return;
    }
    if (this.peak >= RECLAIM_FROM && this.held < this.peak / 8) {
      this.peak = this.held;
      this.reclaim?.();
    }
    if (this.waiting.size === 0) return;
    // Room may have come: for this account, or (below the server's limit) for any waiting one.
    if (this.held < this.serverBytes) {
      for (const w of this.waiting) if (this.allows(w)) w.wake();
    } else if (this.waiting.has(a) && this.allows(a)) a.wake();
  }

  /** @internal */
  wait(a: Account): void {
    this.waiting.add(a);
  }

  /** @internal */
  woke(a: Account): void {
    this.waiting.delete(a);
  }
}

/** What one peer makes the server hold. */
export class Account {
  /** Bytes held for this peer. */
  held = 0;
  /** Of those, the bytes of the message being received (allowed up to the message limit, not counted per peer). */
  unfinished = 0;
  private room: Promise<void> | undefined;
  private freeRoom: (() => void) | undefined;
  private closed = false;

  constructor(private budget: Budget) {}

  /** Charges (n > 0) or credits (n < 0) `n` bytes. */
  add(n: number): void {
    if (this.closed || n === 0) return;
    const before = this.held;
    this.held += n;
    this.budget.held += n;
    this.budget.changed(this, before);
  }

  /** Sets the bytes of the message being received (a frame reader's buffer). */
  setUnfinished(n: number): void {
    const d = n - this.unfinished;
    if (d === 0 || this.closed) return;
    this.unfinished = n;
    this.add(d);
  }

  /** Whether this peer's reader may read on now. */
  get allowed(): boolean {
    return this.budget.allows(this);
  }

  /** Undefined when reading may go on; otherwise a promise that resolves once it may (or the account closes). */
  whenAllowed(): Promise<void> | undefined {
    if (this.closed || this.budget.allows(this)) return undefined;
    if (!this.room) {
      this.room = new Promise((resolve) => (this.freeRoom = resolve));
      this.budget.wait(this);
    }
    return this.room;
  }

  /** @internal */
  wake(): void {
    this.budget.woke(this);
    const free = this.freeRoom;
    this.room = this.freeRoom = undefined;
    free?.();
  }

  /** The peer has gone: everything it held is given back, and a waiting reader goes on (to find its end). */
  close(): void {
    if (this.closed) return;
    this.add(-this.held);
    this.unfinished = 0;
    this.closed = true;
    this.wake();
  }
}

/** Descriptors kept aside from peers' connections: listening sockets, files, programs run for peers, the loop's own. */
const RESERVED_FDS = 128;
/** The most peers a server keeps by default, whatever the descriptor limit: an idle one costs about 16 KiB. */
const MAX_DEFAULT_PEERS = 65536;

/** The default number of peers a server keeps: what the descriptor limit `nofile` leaves room for (up to 65,536). */
export const defaultMaxPeers = (nofile: number): number =>
  Math.max(16, Math.min(MAX_DEFAULT_PEERS, nofile - RESERVED_FDS));

/** A crowd of this many places is worth giving memory back after (about 6 KiB of objects each). */
const RECLAIM_PLACES = 256;

/**
 * A server's places for peers, in order of arrival. When every place is taken, a newcomer takes the place of the
 * peer that arrived first among those never heard from (a connection that only holds a place, silent since it
 * came); when all have spoken, the newcomer is refused.
 */
export class Slots<P> {
  private peers = new Set<P>();
  /** The most places held since memory was last given back (a flood of connections holds memory, not bytes). */
  private peak = 0;

  /** `heard(p)`: whether `p` has sent anything yet. */
  constructor(readonly max: number, private heard: (p: P) => boolean) {}

  get size(): number {
    return this.peers.size;
  }

  /** Gives `p` a place, closing (with `evict`) a silent peer to make room when full; false when refused. */
  admit(p: P, evict: (silent: P) => void): boolean {
    if (this.peers.size >= this.max) {
      let silent: P | undefined;
      for (const q of this.peers) {
        if (!this.heard(q)) {
          silent = q;
          break;
        }
      }
      if (silent === undefined) return false;
      this.peers.delete(silent);
      evict(silent);
    }
    this.peers.add(p);
    if (this.peers.size > this.peak) this.peak = this.peers.size;
    return true;
  }

  /** The peer has gone: its place is free. Once most of a large crowd has gone, memory is given back (as Budget does). */
  free(p: P): void {
    this.peers.delete(p);
    if (this.peak >= RECLAIM_PLACES && this.peers.size < this.peak / 8) {
      this.peak = this.peers.size;
      reclaimer?.();
    }
  }

  [Symbol.iterator](): IterableIterator<P> {
    return this.peers.values();
  }
}

/**
 * A limit's notices, so that a flood is told in a few lines: the first of each kind is reported at once, the
 * rest are counted and told as one line per window ("and 1,975 more …").
 */
export class Notices {
  private counts = new Map<string, { first: NetError; more: number }>();
  private timer: NodeJS.Timeout | undefined;
  private said = new WeakSet<Error>();

  constructor(private report: (err: Error) => void, private windowMs = 10_000) {}

  /** Reports `err` (of kind `kind`), or counts it when one of its kind was reported in this window. */
  say(kind: string, err: NetError): void {
    this.said.add(err);
    const seen = this.counts.get(kind);
    if (seen) {
      seen.more++;
      return;
    }
    this.counts.set(kind, { first: err, more: 0 });
    this.report(err);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.windowMs);
      this.timer.unref();
    }
  }

  /** Whether `err` went through here (then it is told, or counted, already). */
  has(err: Error | undefined): boolean {
    return err !== undefined && this.said.has(err);
  }

  /** Tells what was counted, and starts a new window. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const counts = this.counts;
    this.counts = new Map();
    for (const [kind, { first, more }] of counts) {
      if (more === 0) continue;
      this.report(new NetError({ op: first.op, network: first.network, code: first.code,
        detail: `and ${more.toLocaleString('en-US')} more within ${this.windowMs / 1000} s: ${kind}` }));
    }
  }
}

interface DescriptorWatcher {
  nofile: number;
  out: boolean;
  exhausted(): void;
  recovered(): void;
}

/** The servers watching, and the one timer that looks for all of them. */
const watchers = new Set<DescriptorWatcher>();
let looking: NodeJS.Timeout | undefined;

function lookAtDescriptors(): void {
  let open: number;
  try {
    open = readdirSync('/proc/self/fd').length - 1; // less the one this readdir opened
  } catch (err) {
    // Not even a descriptor to read the list with: that is the answer. Without /proc there is none.
    if ((err as NodeJS.ErrnoException).code !== 'EMFILE') return;
    open = Infinity;
  }
  for (const w of watchers) {
    if (!w.out && open >= w.nofile - 1) {
      w.out = true;
      w.exhausted();
    } else if (w.out && open < w.nofile - 16) {
      w.out = false;
      w.recovered();
    }
  }
}

/**
 * Watches whether this process has run out of descriptors: libuv answers EMFILE on accept by closing the waiting
 * connections itself (its reserve-descriptor trick), so a server never hears of it. One look a second at
 * /proc/self/fd, for every server of the process, while any runs, tells: `exhausted` when every descriptor is
 * taken, `recovered` once there is room again. Returns how to stop watching.
 */
function watchDescriptors(nofile: number, exhausted: () => void, recovered: () => void): () => void {
  const w: DescriptorWatcher = { nofile, out: false, exhausted, recovered };
  watchers.add(w);
  if (!looking) {
    looking = setInterval(lookAtDescriptors, 1000);
    looking.unref();
  }
  return () => {
    watchers.delete(w);
    if (watchers.size === 0) {
      clearInterval(looking);
      looking = undefined;
    }
  };
}

/** A failed accept that is about descriptors running out, not about one connection. */
export const OUT_OF_FDS = new Set(['EMFILE', 'ENFILE']);

/** The notice for descriptors running out (`code` EMFILE or ENFILE): the limit, and how to raise it. */
function outOfDescriptors(code: string, network: Network, addr: Address, nofile: number): NetError {
  const which = code === 'ENFILE' ? 'the system\'s open-file table is full (fs.file-max)'
    : `this process has all its ${nofile} descriptors open (ulimit -n ${nofile})`;
  return new NetError({ op: 'accept', network, addr, code,
    detail: `${which}: new connections are closed at once until some close; raise the hard limit (ulimit -Hn, systemd's LimitNOFILE=) for more` });
}

/**
 * Says once when descriptors run out, whether an accept failed with EMFILE (the addon's listeners) or libuv closed
 * the connections itself (see watchDescriptors); again only once there has been room since.
 */
export function descriptorNotices(network: Network, addr: () => Address, nofile: number, report: (err: NetError) => void) {
  let told = false;
  const say = (code: string) => {
    if (!told) report(outOfDescriptors(code, network, addr(), nofile));
    told = true;
  };
  const stop = watchDescriptors(nofile, () => say('EMFILE'), () => (told = false));
  return { failed: say, stop };
}

/** Why a full server turned a newcomer away: every place is held by a peer that has spoken. */
export function fullRefusal(network: Network, addr: Address | undefined, max: number, what: 'client' | 'peer'): NetError {
  return new NetError({ op: 'accept', network, addr, code: 'ECONNREFUSED',
    detail: `refused: ${max} ${what}${max === 1 ? '' : 's'} already connected, all active (the limit: ${what === 'client' ? 'maxConns, --max-clients' : 'maxPeers, --max-clients'})` });
}

/** The kinds of a limit's notices, as their summaries name them. */
export const REFUSED = 'refused, every place taken by a peer that has spoken';
export const EVICTED = 'closed, silent since connecting, to make room';
export const SILENT = 'closed, no message since connecting';

/** A connection closed to make room for a newcomer. */
export const evicted = (network: Network, addr: Address | undefined): NetError => new NetError({ op: 'accept', network, addr,
  code: 'ECONNRESET', detail: 'closed: silent since it connected, and its place was needed' });
