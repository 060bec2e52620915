import { EventEmitter } from 'node:events';
import { constants } from 'node:os';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import * as net from 'node:net';
import { TLSSocket } from 'node:tls';
import type { UnixAddress } from '../core/address.js';
import { wrap } from '../core/errors.js';
import { rowOf } from '../core/networks.js';
import { StreamConn } from '../core/stream.js';
import type { Conn, WithFds } from '../core/types.js';
import { errnoError, consts, native, openHandle, type Handle, type HandleEvents } from './index.js';
import { Control } from './options.js';

type WriteDone = (err?: Error | null) => void;

const { EMSGSIZE } = constants.errno;

/**
 * A connected AF_UNIX socket of the addon (SOCK_SEQPACKET, or SOCK_STREAM with an abstract name) as a Node
 * Duplex: each pushed chunk is one received message (flowing mode hands chunks over as they were pushed), and
 * each write is one sendmsg. Descriptors that came with a chunk are kept for {@link NativeDuplex.fdsOf}.
 */
export class NativeDuplex extends Duplex {
  private h: Handle;
  private reading = false;
  private writes: WriteDone[] = [];
  private finalDone: WriteDone | undefined;
  private fds = new WeakMap<Buffer, number[]>();

  /**
   * `byteStream`: a SOCK_STREAM socket, where writes waiting together (cork, or a full socket) may go as one
   * sendmsg: a frame's header and payload then wake the reader once, not once per part.
   */
  constructor(readonly fd: number, { slot = 256 * 1024, byteStream = false } = {}) {
    super({ allowHalfOpen: true, writev: byteStream ? joinedWrite : undefined });
    this.h = openHandle(fd, consts.MODE_CONN, slot, {
      message: (data, fds, flags) => this.onMessage(data, fds, flags),
      sent: (count, codes) => this.onSent(count, codes),
      error: (errno) => this.destroy(errnoError(errno, 'recvmsg')),
    });
  }

  private onMessage(data: Buffer | null, fds: number[] | undefined, flags: number): void {
    if (data === null) {
      this.push(null);
      return;
    }
    if (flags & 1) {
      // The message was larger than the receive slot (the peer raised its SO_SNDBUF): failing beats handing
      // on a cut message as if it were whole.
      this.destroy(errnoError(-EMSGSIZE, 'recvmsg'));
      return;
    }
    if (fds) this.fds.set(data, fds);
    if (!this.push(data) && this.reading) {
      this.reading = false;
      native.read(this.h, false);
    }
  }

  private onSent(count: number, codes: Buffer | undefined): void {
    for (let i = 0; i < count; i++) {
      const code = codes ? codes.readInt32LE(i * 4) : 0;
      this.writes.shift()!(code ? errnoError(code, 'sendmsg') : null);
    }
    if (this.finalDone && this.writes.length === 0) this.shutdownWrite(this.finalDone);
  }

  /** The descriptors that arrived with `chunk` (a chunk this stream produced), handed over once. */
  fdsOf(chunk: Buffer): number[] {
    const fds = this.fds.get(chunk) ?? [];
    this.fds.delete(chunk);
    return fds;
  }

  override _read(): void {
    if (!this.reading) {
      this.reading = true;
      native.read(this.h, true);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: WriteDone): void {
    this.sendWith(chunk, null, done);
  }

  /** One message (its parts gathered) with descriptors, in order after what was written before. */
  sendWith(chunk: Uint8Array | Uint8Array[], fds: readonly number[] | null, done: WriteDone): void {
    // A zero-length SOCK_SEQPACKET message reads as EOF at the peer: an empty write sends nothing.
    if (!Array.isArray(chunk) && chunk.length === 0 && !fds?.length) return done();
    const r = native.send(this.h, chunk, null, fds);
    if (r === consts.SENT) done();
    else if (r === consts.QUEUED) this.writes.push(done);
    else done(errnoError(r, 'sendmsg'));
  }

  override _final(done: WriteDone): void {
    if (this.writes.length > 0) this.finalDone = done;
    else this.shutdownWrite(done);
  }

  private shutdownWrite(done: WriteDone): void {
    this.finalDone = undefined;
    try {
      native.shutdown(this.fd, consts.SHUT_WR);
      done();
    } catch (err) {
      // The peer has gone: its EOF or reset is what the reader will see.
      done((err as NodeJS.ErrnoException).code === 'ENOTCONN' ? null : (err as Error));
    }
  }

  override _destroy(err: Error | null, done: WriteDone): void {
    native.hclose(this.h);
    const reason = err ?? errnoError(-9 /* EBADF */, 'sendmsg');
    for (const w of this.writes.splice(0)) w(reason);
    this.finalDone?.(reason);
    done(err);
  }
}

/** Writes waiting together, as one sendmsg: gathered, up to the addon's limit of parts; joined past it. */
function joinedWrite(this: Duplex, chunks: { chunk: Buffer }[], done: WriteDone): void {
  const parts = chunks.map((c) => c.chunk);
  (this as NativeDuplex).sendWith(parts.length <= consts.MAX_PARTS ? parts : Buffer.concat(parts), null, done);
}

/** A listening socket of the addon as the part of net.Server that StreamListener uses: 'connection' events. */
export class NativeServer extends EventEmitter {
  private h: Handle;

  constructor(readonly fd: number, wrap: (fd: number) => Duplex) {
    super();
    this.h = openHandle(fd, consts.MODE_LISTEN, 0, {
      accept: (cfd) => this.accepted(cfd, wrap),
      error: (errno) => this.emit('error', errnoError(errno, 'accept')),
    });
    native.read(this.h, true);
  }

  /** A connection that cannot be taken on (ENOMEM opening its handle) is closed and reported; the server goes on. */
  private accepted(fd: number, wrap: (fd: number) => Duplex): void {
    let conn: Duplex;
    try {
      conn = wrap(fd);
    } catch (err) {
      native.close(fd);
      this.emit('error', err);
      return;
    }
    this.emit('connection', conn);
  }

  close(): void {
    native.hclose(this.h);
  }
}

/**
 * Connects a fresh AF_UNIX socket of `type` to `sa`. A unix listener with a full backlog answers a
 * non-blocking connect with EAGAIN; like a blocking connect, this waits (in short steps) until it is let in.
 */
export async function connectUnix(type: number, sa: Uint8Array, signal?: AbortSignal): Promise<number> {
  const fd = native.socket(consts.AF_UNIX, type);
  try {
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      signal?.throwIfAborted();
      try {
        native.connect(fd, sa);
        return fd;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      await sleep(delay, undefined, { signal });
    }
  } catch (err) {
    native.close(fd);
    throw (err as Error).name === 'AbortError' && signal ? signal.reason : err;
  }
}

/** A handle of its own on a duplicate of `fd` (the duplicate is closed if the handle cannot be made). */
function openDup(fd: number, slot: number, on: HandleEvents): Handle {
  const dup = native.dup(fd);
  try {
    return openHandle(dup, consts.MODE_CONN, slot, on);
  } catch (err) {
    native.close(dup);
    throw err;
  }
}

/**
 * Descriptor passing on a libuv-owned unix stream socket, through a duplicate of its fd polled by the addon
 * (libuv keeps its own registration of the original). Sending comes after what libuv has written.
 */
export function sendFdsOn(fd: number, data: Uint8Array, fds: readonly number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const h = openDup(fd, 0, {
      sent: (_, codes) => {
        native.hclose(h);
        const code = codes ? codes.readInt32LE(0) : 0;
        if (code) reject(errnoError(code, 'sendmsg'));
        else resolve();
      },
    });
    const r = native.send(h, data, null, fds);
    if (r === consts.QUEUED) return;
    native.hclose(h);
    if (r === consts.SENT) resolve();
    else reject(errnoError(r, 'sendmsg'));
  });
}

/** Receives the next chunk and its descriptors on a libuv-owned unix stream socket that libuv is not reading. */
export function recvFdsOn(fd: number, signal?: AbortSignal): Promise<WithFds | null> {
  return new Promise((resolve, reject) => {
    const h = openDup(fd, 64 * 1024, {
      message: (data, fds) => {
        finish();
        resolve(data === null ? null : { data, fds: fds ?? [] });
      },
      error: (errno) => {
        finish();
        reject(errnoError(errno, 'recvmsg'));
      },
    });
    const onAbort = () => {
      finish();
      reject(signal!.reason);
    };
    const finish = () => {
      native.hclose(h);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    native.read(h, true);
  });
}

/**
 * A connection on an addon socket (unixpacket always; unix when descriptors must be readable at any point, as
 * channels need): every read comes with the descriptors that arrived with it.
 */
export function nativeConn(d: NativeDuplex, network: 'unix' | 'unixpacket', local: UnixAddress, remote: UnixAddress): Conn {
  const send = (data: Uint8Array, fds: readonly number[] | null) =>
    new Promise<void>((resolve, reject) => d.sendWith(data, fds, (err) => (err ? reject(err) : resolve())));
  return new StreamConn(d, network, local, remote, {
    control: new Control(network, () => (d.destroyed ? -1 : d.fd), () => remote),
    fds: { send, fdsOf: (chunk) => d.fdsOf(chunk) },
    // Seqpacket: one message per send, straight to the socket (see ConnParts.message).
    message: rowOf(network).messages ? (data) => send(data, null) : undefined,
  });
}

/**
 * The same unix connection read by the addon instead of libuv, so that descriptors can arrive at any point of the
 * stream (libuv's unix sockets drop them once it reads). Only for a connection nothing has read yet: the libuv
 * socket is closed, and the addon keeps a duplicate of its descriptor.
 */
export function withNativeReading(conn: Conn): Conn {
  // TLS carries no descriptors, and its socket is libuv's to read.
  if (conn.network !== 'unix' || !(conn.stream instanceof net.Socket) || conn.stream instanceof TLSSocket) return conn;
  const dup = native.dup(conn.fd);
  let duplex: NativeDuplex;
  try {
    duplex = new NativeDuplex(dup, { byteStream: true });
  } catch (err) {
    native.close(dup);
    throw wrap('read', 'unix', conn.remoteAddr, err);
  }
  conn.stream.destroy();
  return nativeConn(duplex, 'unix', conn.localAddr as UnixAddress, conn.remoteAddr as UnixAddress);
}
