interface Waiter<T> {
  resolve(value: T | null): void;
  reject(error: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

const END = Promise.resolve(null);

/**
 * A queue between an event source (socket events) and async readers. What arrives while a reader waits goes
 * straight to it; otherwise it is held. `limit` is where the caller acts so that nothing grows without bound:
 * a stream or datagram socket pauses reading (`push` says when), a listener refuses the connection, a relay
 * session drops the datagram (`offer` says when).
 */
export class Inbox<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private waiters: Waiter<T>[] = [];
  private finished = false;
  private failure: unknown = undefined;
  private raised: unknown[] = [];

  constructor(readonly limit: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  get full(): boolean {
    return this.size >= this.limit;
  }

  get ended(): boolean {
    return this.finished;
  }

  /** Whether a reader waits: what is pushed now goes straight to it, never queued. */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  /** The item the next read takes, if one is queued. */
  peek(): T | undefined {
    return this.size > 0 ? this.items[this.head] : undefined;
  }

  /** Hands `item` to a waiting reader or queues it (dropped once ended); `false` when the queue is now full. */
  push(item: T): boolean {
    if (this.finished) return true;
    const w = this.waiters.shift();
    if (w) {
      this.release(w);
      w.resolve(item);
      return true;
    }
    this.items.push(item);
    return this.size < this.limit;
  }

  /** Like {@link Inbox.push}, but a full queue takes nothing: `false` when `item` was not taken. */
  offer(item: T): boolean {
    if (this.full && this.waiters.length === 0 && !this.finished) return false;
    this.push(item);
    return true;
  }

  /** Fails one read (the waiting one, else the next) without ending the inbox: a socket error that is not fatal. */
  raise(error: unknown): void {
    const w = this.waiters.shift();
    if (w) {
      this.release(w);
      w.reject(error);
    } else if (!this.finished) this.raised.push(error);
  }

  /** The next item; `null` once ended (after the queued items); rejects with the end error, if any. */
  next(signal: AbortSignal | undefined, abortError: (signal: AbortSignal) => Error): Promise<T | null> {
    if (this.size > 0) {
      const item = this.items[this.head] as T;
      this.items[this.head++] = undefined;
      if (this.head === this.items.length) {
        this.items.length = 0;
        this.head = 0;
      }
      return Promise.resolve(item);
    }
    if (this.raised.length > 0) return Promise.reject(this.raised.shift());
    if (this.finished) return this.failure === undefined ? END : Promise.reject(this.failure);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<T | null>((resolve, reject) => {
      const w: Waiter<T> = { resolve, reject };
      if (signal) {
        w.signal = signal;
        w.onAbort = () => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
    });
  }

  /** Yields every item until the inbox ends. */
  async *iterate(abortError: (signal: AbortSignal) => Error): AsyncGenerator<T> {
    for (let item = await this.next(undefined, abortError); item !== null; item = await this.next(undefined, abortError)) {
      yield item;
    }
  }

  /** Ends the inbox: waiting readers get `null` (or `error`); queued items are still read first. */
  end(error?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.failure = error;
    for (const w of this.waiters.splice(0)) {
      this.release(w);
      if (error === undefined) w.resolve(null);
      else w.reject(error);
    }
  }

  /** Removes and returns what is queued (to close connections nobody accepted). */
  takeAll(): T[] {
    const rest = this.items.slice(this.head) as T[];
    this.items.length = 0;
    this.head = 0;
    return rest;
  }

  private release(w: Waiter<T>): void {
    if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
  }
}
