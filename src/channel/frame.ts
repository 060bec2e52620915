/**
 * Message framing on byte streams, as Python's `multiprocessing.connection` frames `send_bytes`: a 4-byte
 * big-endian length, then the bytes; a message of 2^31 - 1 bytes or more has the length 0xFFFFFFFF (-1 as
 * Python reads it) followed by an 8-byte big-endian length. Message sockets (seqpacket, datagrams) need none.
 */
import { tooLarge } from '../core/errors.js';
import type { Network } from '../core/networks.js';

/** Python writes the 8-byte form from this size on (its `n > 0x7fffffff` test); either form reads back. */
const LONG_FROM = 0x7fffffff;
const ESCAPE = 0xffffffff;

/** The default largest message: checked before anything is allocated for it. */
export const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;

/** The length of the header before a message of `size` bytes. */
export const headerLength = (size: number): number => (size < LONG_FROM ? 4 : 12);

/** Writes the header of a message of `size` bytes at the start of `into` (headerLength(size) bytes). */
export function writeFrameHeader(into: Buffer, size: number): void {
  if (size < LONG_FROM) {
    into.writeUInt32BE(size, 0);
  } else {
    into.writeUInt32BE(ESCAPE, 0);
    into.writeBigUInt64BE(BigInt(size), 4);
  }
}

/** The header that goes before a message of `size` bytes. */
export function frameHeader(size: number): Buffer {
  const h = Buffer.allocUnsafe(headerLength(size));
  writeFrameHeader(h, size);
  return h;
}

/**
 * Cuts a byte stream into messages. `push()` returns the messages complete so far; a header announcing more than
 * `max` bytes throws EMSGSIZE before anything is allocated for it (the connection cannot go on after that).
 */
export class FrameReader {
  private parts: Buffer[] = [];
  private buffered = 0;
  /** The size of the message being read, once its header is complete; -1 while reading a header. */
  private want = -1;

  /** `max` may change between reads (a handshake reads small messages, then the channel's). */
  constructor(private network: Network, public max = DEFAULT_MAX_MESSAGE) {}

  /** Bytes read and not yet handed out as messages. */
  get held(): number {
    return this.buffered;
  }

  /** Whether a message (or a header) has begun and not ended: an EOF now cuts it. */
  get partial(): boolean {
    return this.buffered > 0 || this.want >= 0;
  }

  /** Up to `n` of the bytes read but not yet handed out: after an oversize header, the start of that message. */
  pending(n: number): Buffer {
    if (this.buffered === 0) return Buffer.alloc(0);
    return this.peek(Math.min(n, this.buffered)).subarray(0, Math.min(n, this.buffered));
  }

  /** Adds `chunk` and returns the messages complete so far, at most `most` of them (the rest stay buffered). */
  push(chunk: Buffer, most = Infinity): Buffer[] {
    const out: Buffer[] = [];
    if (chunk.length > 0) {
      this.parts.push(chunk);
      this.buffered += chunk.length;
    }
    while (out.length < most) {
      if (this.want < 0) {
        if (this.buffered < 4) break;
        const short = this.peek(4).readUInt32BE(0);
        if (short !== ESCAPE) {
          this.take(4);
          this.want = this.check(short);
        } else {
          if (this.buffered < 12) break;
          const long = this.take(12).readBigUInt64BE(4);
          this.want = this.check(long);
        }
      }
      if (this.buffered < this.want) break;
      out.push(this.take(this.want));
      this.want = -1;
    }
    return out;
  }

  private check(size: number | bigint): number {
    if (size > BigInt(this.max)) throw tooLarge('recv', this.network, size, this.max);
    return Number(size);
  }

  /** The first `n` buffered bytes, without taking them (n is a header's size: small). */
  private peek(n: number): Buffer {
    const first = this.parts[0]!;
    return first.length >= n ? first : Buffer.concat(this.parts).subarray(0, n);
  }

  /** Takes the first `n` buffered bytes: a view when one chunk holds them, else one copy. */
  private take(n: number): Buffer {
    const first = this.parts[0];
    if (n === 0) return Buffer.alloc(0);
    let result: Buffer;
    if (first!.length >= n) {
      result = first!.subarray(0, n);
      if (first!.length === n) this.parts.shift();
      else this.parts[0] = first!.subarray(n);
    } else {
      result = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const part = this.parts[0]!;
        const k = Math.min(part.length, n - at);
        part.copy(result, at, 0, k);
        at += k;
        if (k === part.length) this.parts.shift();
        else this.parts[0] = part.subarray(k);
      }
    }
    this.buffered -= n;
    return result;
  }
}
