/**
 * The shared-key handshake of Python's `multiprocessing.connection` (`authkey`), both ways: each side proves it
 * holds the key by answering the other's random challenge with an HMAC of it. Challenges are sent as Python
 * 3.12 sends them (`#CHALLENGE#{sha256}` and 40 random bytes), and answers are read in both forms: `{name}mac`
 * and the bare HMAC-MD5 of Python 3.11 and older, so that either Python talks to socktool.
 *
 * The listening side challenges first, then answers; the dialling side answers, then challenges.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { abortError, NetError, timedOut } from '../core/errors.js';
import type { Conn } from '../core/types.js';
import { frameHeader, FrameReader } from './frame.js';

const CHALLENGE = Buffer.from('#CHALLENGE#');
const WELCOME = Buffer.from('#WELCOME#');
const FAILURE = Buffer.from('#FAILURE#');
const EMPTY = Buffer.alloc(0);
/** Python refuses a longer handshake message (its recv_bytes(256)). */
const MAX = 256;
const DIGESTS = new Set(['md5', 'sha256', 'sha384', 'sha512', 'sha3_256', 'sha3_384', 'sha3_512', 'blake2b', 'blake2s']);
/** Python's name for a digest, in Node's spelling. */
const nodeDigest = (name: string) => name.replace('sha3_', 'sha3-').replace('blake2b', 'blake2b512').replace('blake2s', 'blake2s256');

/**
 * What a connection's reading stands at after the handshake: messages already read (a message socket's), and
 * the frame reader holding what followed it, not yet cut into messages.
 */
export interface AfterHandshake {
  early: Buffer[];
  reader: FrameReader | undefined;
}

/** Reads whole handshake messages from a connection (framed unless it keeps message boundaries itself). */
class Messages {
  private queue: Buffer[] = [];
  readonly reader: FrameReader | undefined;

  constructor(private conn: Conn, framed: boolean) {
    this.reader = framed ? new FrameReader(conn.network, MAX) : undefined;
  }

  /**
   * The next message. Frames are taken one at a time: what the peer sends right after the handshake stays in the
   * reader, unread, for the channel's own limit (this one is Python's 256 bytes).
   */
  async next(): Promise<Buffer> {
    if (this.reader) this.queue.push(...this.reader.push(EMPTY, 1));
    while (this.queue.length === 0) {
      const chunk = await this.conn.read();
      if (chunk === null) throw failed(this.conn, 'the peer closed the connection during the authkey handshake');
      if (!this.reader) {
        if (chunk.length > MAX) throw failed(this.conn, `a handshake message of ${chunk.length} bytes`);
        this.queue.push(chunk);
      } else this.queue.push(...this.reader.push(chunk, 1));
    }
    return this.queue.shift()!;
  }

  send(message: Buffer): Promise<void> {
    return this.conn.write(this.reader ? Buffer.concat([frameHeader(message.length), message]) : message);
  }

  rest(): AfterHandshake {
    return { early: this.queue, reader: this.reader };
  }
}

function failed(conn: Conn, detail: string): NetError {
  return new NetError({ op: 'recv', network: conn.network, addr: conn.remoteAddr, code: 'EACCES', detail: `authkey: ${detail}` });
}

/** The digest a message names (`{sha256}…`), and what follows; a bare 16- or 20-byte message is Python 3.11's md5. */
function digestOf(message: Buffer): { name: string | undefined; payload: Buffer } {
  if (message.length === 16 || message.length === 20) return { name: undefined, payload: message };
  const close = message.indexOf('}');
  if (message[0] === 0x7b && close > 1 && close < 20) {
    const name = message.subarray(1, close).toString('latin1');
    if (DIGESTS.has(name)) return { name, payload: message.subarray(close + 1) };
  }
  return { name: undefined, payload: message };
}

const hmac = (key: Buffer, digest: string, message: Buffer) => createHmac(nodeDigest(digest), key).update(message).digest();

/** Challenges the peer; it must answer with the key's HMAC of the challenge. */
async function deliver(m: Messages, conn: Conn, key: Buffer): Promise<void> {
  const message = Buffer.concat([Buffer.from('{sha256}'), randomBytes(40)]);
  await m.send(Buffer.concat([CHALLENGE, message]));
  const response = await m.next();
  const { name, payload } = digestOf(response);
  const expected = hmac(key, name ?? 'md5', message);
  if (expected.length !== payload.length || !timingSafeEqual(expected, payload)) {
    await m.send(FAILURE).catch(() => {});
    throw failed(conn, 'the peer does not have the key (its answer to the challenge was wrong)');
  }
  await m.send(WELCOME);
}

/** Answers the peer's challenge with the key's HMAC of it. */
async function answer(m: Messages, conn: Conn, key: Buffer): Promise<void> {
  const challenge = await m.next();
  if (!challenge.subarray(0, CHALLENGE.length).equals(CHALLENGE) || challenge.length < CHALLENGE.length + 20) {
    throw failed(conn, 'the peer did not send a challenge (does it use an authkey?)');
  }
  const message = challenge.subarray(CHALLENGE.length);
  const { name } = digestOf(message);
  // Python 3.12 names its digest and MACs the whole message, name included; older Pythons want bare HMAC-MD5.
  await m.send(name ? Buffer.concat([Buffer.from(`{${name}}`), hmac(key, name, message)]) : hmac(key, 'md5', message));
  const verdict = await m.next();
  if (!verdict.equals(WELCOME)) throw failed(conn, 'the peer refused our answer: the keys differ');
}

/**
 * Runs the handshake on a new connection (before anything else is read), within `ms`, and before `signal` aborts
 * (a caller's own deadline, such as call's --timeout). Rejects with EACCES when either side lacks the key,
 * ETIMEDOUT when the peer stalls.
 */
export async function authenticate(conn: Conn, key: Buffer, side: 'listen' | 'dial', framed: boolean, ms = 10_000,
  signal?: AbortSignal): Promise<AfterHandshake> {
  const m = new Messages(conn, framed);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut('recv', `authkey: no handshake within ${ms} ms`, conn.network, conn.remoteAddr)), ms);
    // A deadline that passes mid-handshake is most often a peer with no authkey, waiting for a message instead.
    onAbort = () => reject((signal!.reason as Error | undefined)?.name === 'TimeoutError'
      ? timedOut('recv', 'authkey: the handshake did not finish in time (does the peer use an authkey?)', conn.network, conn.remoteAddr)
      : abortError('recv', conn.network, conn.remoteAddr, signal!));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const steps = side === 'listen'
      ? deliver(m, conn, key).then(() => answer(m, conn, key))
      : answer(m, conn, key).then(() => deliver(m, conn, key));
    await Promise.race([steps, stalled]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort!);
  }
  return m.rest();
}
