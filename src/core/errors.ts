import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import type { Address, Network } from './address.js';

/**
 * The operation that failed, as named in every {@link NetError}.
 *
 * @example
 * if (err.op === 'dial') console.error('could not connect')
 */
export type Op =
  | 'parse' | 'dial' | 'listen' | 'bind' | 'accept' | 'read' | 'write' | 'send' | 'recv' | 'close' | 'option'
  | 'lookup';

/**
 * socktool's own error codes; every other code is an errno name (`ECONNREFUSED`, `EADDRINUSE`, …).
 *
 * @example
 * if (err instanceof NetError && err.code === Codes.CLOSED) return  // the socket was closed under us
 */
export const Codes = {
  BAD_ADDRESS: 'ERR_SOCKTOOL_BAD_ADDRESS',
  WRONG_SHAPE: 'ERR_SOCKTOOL_WRONG_SHAPE',
  CLOSED: 'ERR_SOCKTOOL_CLOSED',
  ABORTED: 'ERR_SOCKTOOL_ABORTED',
  UNNAMED_PEER: 'ERR_SOCKTOOL_UNNAMED_PEER',
  /** A channel's connection dropped while a request was out: the server may or may not have acted on it. */
  DISCONNECTED: 'ERR_SOCKTOOL_DISCONNECTED',
  /** A channel request's handler failed: the error reply's name and message are on the ReplyError. */
  REPLY_ERROR: 'ERR_SOCKTOOL_REPLY_ERROR',
  /** The native addon did not load (no prebuild for this platform and no build): the message says how to build it. */
  ADDON_UNAVAILABLE: 'ERR_SOCKTOOL_ADDON_UNAVAILABLE',
  TIMEOUT: 'ETIMEDOUT',
} as const;

/** Text for the codes libuv's errno map lacks: socktool's own, and getaddrinfo's (one wording wherever they occur). */
const SOCKTOOL_TEXT: Record<string, string> = {
  ENOTFOUND: 'no such host',
  ENODATA: 'no such host',
  EAI_AGAIN: 'temporary failure in name resolution',
  ERR_SOCKTOOL_WRONG_SHAPE: 'operation does not apply to this network',
  ERR_SOCKTOOL_CLOSED: 'use of closed socket',
  ERR_SOCKTOOL_ABORTED: 'operation aborted',
  ERR_SOCKTOOL_UNNAMED_PEER: 'peer is an unnamed unix socket',
  ERR_SOCKTOOL_DISCONNECTED: 'the connection dropped with the request unanswered',
  ERR_SOCKTOOL_REPLY_ERROR: 'the request failed at the server',
};

let errnoText: Map<string, string> | undefined;
/** libuv's text for an errno name ("connection refused"), built lazily once. */
function describe(code: string): string | undefined {
  if (!errnoText) {
    errnoText = new Map();
    for (const [name, text] of getSystemErrorMap().values()) errnoText.set(name, text);
  }
  return errnoText.get(code) ?? SOCKTOOL_TEXT[code];
}

/**
 * Text for the address part of a message, Go style: `127.0.0.1:1`, `[::1]:80`, `/tmp/app.sock`, `@name`;
 * empty for an unnamed unix socket.
 */
function addrText(a: Address | undefined): string {
  if (a === undefined) return '';
  if ('path' in a) return a.abstract ? `@${a.path}` : a.path;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export interface NetErrorFields {
  op: Op;
  code: string;
  network?: Network;
  /** The address the operation was aimed at (remote for dial/send, local for listen/bind). */
  addr?: Address;
  /** The local address, where one is known and differs from `addr`. */
  source?: Address;
  /** The text that failed to parse, for `op: 'parse'`. */
  input?: string;
  /** What went wrong, when the code's own text is not enough. */
  detail?: string;
  cause?: unknown;
}

/**
 * The one error type socktool throws. `code` is stable (an errno name or `ERR_SOCKTOOL_*`) and is what code
 * should test; the message reads like Go's: `dial tcp 127.0.0.1:1: connection refused (ECONNREFUSED)`.
 *
 * @example
 * try { await dial('tcp://127.0.0.1:1') }
 * catch (e) { if (e instanceof NetError && e.code === 'ECONNREFUSED') console.log('nobody home') }
 */
export class NetError extends Error {
  override readonly name = 'NetError';
  readonly op: Op;
  readonly code: string;
  readonly network?: Network;
  readonly addr?: Address;
  readonly source?: Address;
  readonly input?: string;
  /** The errno number when `code` is an errno name, as Python's `OSError.errno`. */
  readonly errno?: number;

  constructor(f: NetErrorFields) {
    super(NetError.format(f), f.cause === undefined ? undefined : { cause: f.cause });
    this.op = f.op;
    this.code = f.code;
    if (f.network !== undefined) this.network = f.network;
    if (f.addr !== undefined) this.addr = f.addr;
    if (f.source !== undefined) this.source = f.source;
    if (f.input !== undefined) this.input = f.input;
    const errno = (f.cause as { errno?: unknown } | undefined)?.errno;
    const byName = (constants.errno as Record<string, number>)[f.code];
    if (typeof errno === 'number') this.errno = Math.abs(errno);
    else if (byName !== undefined) this.errno = byName;
  }

  private static format(f: NetErrorFields): string {
    let where = f.op as string;
    if (f.op === 'parse' || f.op === 'lookup') where += ` ${JSON.stringify(f.input ?? '')}`;
    else {
      if (f.network) where += ` ${f.network}`;
      const from = addrText(f.source);
      const to = addrText(f.addr);
      if (from && to) where += ` ${from}->${to}`;
      else if (from || to) where += ` ${from || to}`;
    }
    const text = f.detail ?? describe(f.code) ?? tlsReason(f.cause) ?? (f.cause instanceof Error ? f.cause.message : 'failed');
    return `${where}: ${text} (${f.code})`;
  }
}

/** OpenSSL's reason for a TLS failure ("http request", "wrong version number"), without its multi-line trace. */
function tlsReason(cause: unknown): string | undefined {
  const e = cause as { code?: unknown; reason?: unknown } | undefined;
  return typeof e?.code === 'string' && e.code.startsWith('ERR_SSL_') && typeof e.reason === 'string'
    ? `TLS: ${e.reason}` : undefined;
}

/** A syntax or range error in an address; `detail` names the bad part. */
export function badAddress(input: string, detail: string): NetError {
  return new NetError({ op: 'parse', code: Codes.BAD_ADDRESS, input, detail });
}

/**
 * Wraps anything thrown below the public edge into a {@link NetError}, once: a NetError passes through
 * unchanged, a Node system error keeps its errno name as `code`, an abort becomes `ETIMEDOUT` or
 * `ERR_SOCKTOOL_ABORTED`.
 */
export function wrap(op: Op, network: Network | undefined, addr: Address | undefined, cause: unknown,
  source?: Address): NetError {
  if (cause instanceof NetError) return cause;
  return new NetError({ op, network, addr, source, code: codeOf(cause), cause });
}

function codeOf(cause: unknown): string {
  const e = cause as { code?: unknown; name?: unknown } | undefined;
  if (e?.name === 'TimeoutError') return Codes.TIMEOUT;
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') {
    // AbortSignal.timeout() aborts with a TimeoutError as the reason, wrapped by some Node APIs.
    const reason = (cause as { cause?: { name?: unknown } }).cause;
    return reason?.name === 'TimeoutError' ? Codes.TIMEOUT : Codes.ABORTED;
  }
  if (typeof e?.code === 'string' && /^E[A-Z0-9_]+$/.test(e.code)) return e.code;
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_SOCKTOOL_')) return e.code;
  // Node's own validation errors (ERR_SOCKET_BAD_PORT, ERR_INVALID_ARG_TYPE …) are argument errors.
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_')) return 'EINVAL';
  return 'EIO';
}

/** An argument or option that cannot work here (EINVAL); `detail` says which and why. */
export function invalid(op: Op, detail: string, network?: Network, addr?: Address): NetError {
  return new NetError({ op, network, addr, code: 'EINVAL', detail });
}

/**
 * A message over the limit of `max` bytes (EMSGSIZE): the sender's error before anything is sent, the receiver's
 * when a header or a datagram says so. `size`: its bytes, or words for what is known (`more than 65536`); `whose`:
 * whose limit it is, when the one told is the sender (`this server's`).
 */
export function tooLarge(op: Op, network: Network | undefined, size: number | bigint | string, max: number, addr?: Address,
  whose = 'the'): NetError {
  return new NetError({ op, network, addr, code: 'EMSGSIZE', detail: `a message of ${size} bytes is over ${whose} limit of ${max} bytes` });
}

/** A wait that ran out of its time (ETIMEDOUT); `detail` says what did not come in how long. */
export function timedOut(op: Op, detail: string, network?: Network, addr?: Address): NetError {
  return new NetError({ op, network, addr, code: Codes.TIMEOUT, detail });
}

/** A peer that broke the protocol (EPROTO); `detail` says what came instead. */
export function protocolError(op: Op, detail: string, network?: Network, addr?: Address): NetError {
  return new NetError({ op, network, addr, code: 'EPROTO', detail });
}

/** The error an operation on a closed socket gets. */
export function closedError(op: Op, network: Network, addr: Address | undefined): NetError {
  return new NetError({ op, network, addr, code: Codes.CLOSED });
}

/** The error for an aborted wait: the signal's reason decides between timeout and cancellation. */
export function abortError(op: Op, network: Network, addr: Address | undefined, signal: AbortSignal): NetError {
  return wrap(op, network, addr, signal.reason ?? new DOMException('aborted', 'AbortError'));
}
