/**
 * Sockets a process is given rather than makes: systemd's socket activation (`LISTEN_FDS`, `LISTEN_PID`,
 * `LISTEN_FDNAMES`, descriptors from 3, as sd_listen_fds(3) reads them) and inetd's connection on stdin. The
 * address forms `fd:N` (a descriptor number) and `fd:NAME` (a name from `LISTEN_FDNAMES`) name them; the
 * socket's network and address are read from the descriptor itself.
 */
import { parseAddress, toAddress, type Address } from './core/address.js';
import { NetError, type Op } from './core/errors.js';
import { networkFor } from './core/networks.js';
import { consts, native, nameOf } from './native/index.js';

/**
 * A socket this process inherited: the address it has (its network and name read from the descriptor), the
 * descriptor, and what state it is in. It stands for itself wherever an address is taken: `listen()` or
 * `serve()` of a listening stream socket, `bind()` or `serve()` of a datagram socket, `dial()` of a connection
 * (systemd's `Accept=yes`, inetd).
 *
 * @example
 * const web = inheritedSocket('fd:web')     // LISTEN_FDNAMES=web
 * console.log(formatAddress(web), web.listening)  // unix:///run/app.sock true
 * await serve(web, echo)
 */
export type InheritedSocket = Address & {
  /** The descriptor, close-on-exec and non-blocking from the moment it was taken. */
  readonly fd: number;
  /** Its name from `LISTEN_FDNAMES`, if the manager named it. */
  readonly fdName?: string;
  /** A listening stream socket (SO_ACCEPTCONN); false for a connection and for a datagram socket. */
  readonly listening: boolean;
};

/** What LISTEN_* said, read once: the first descriptor is 3 (SD_LISTEN_FDS_START). */
interface Passed {
  count: number;
  names: string[];
}

const LISTEN_FDS_START = 3;
let passed: Passed | undefined;
/** Descriptors already taken: each inherited socket is taken once. */
const taken = new Set<number>();

/**
 * Reads LISTEN_FDS (only when LISTEN_PID is this process: they were meant for it), marks every passed
 * descriptor close-on-exec, and unsets the variables, so that programs this process runs inherit neither.
 */
function passedSockets(): Passed {
  if (passed) return passed;
  const env = process.env;
  const count = env.LISTEN_PID === String(process.pid) && /^\d+$/.test(env.LISTEN_FDS ?? '') ? Number(env.LISTEN_FDS) : 0;
  const names = count > 0 ? (env.LISTEN_FDNAMES ?? '').split(':') : [];
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  for (let fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + count; fd++) {
    try {
      native.cloexec(fd);
    } catch {
      // a descriptor the manager announced but did not pass: taking it fails then, with EBADF
    }
  }
  passed = { count, names };
  return passed;
}

/** Whether `text` is an `fd:` address (an inherited socket) rather than one of the grammar's. */
export const isInheritedText = (text: string): boolean => text.startsWith('fd:');

/** Whether an address object is an inherited socket. */
export const isInherited = (a: Address): a is InheritedSocket => typeof (a as { fd?: unknown }).fd === 'number';

function noSocket(op: Op, spec: string, code: string, detail: string): NetError {
  return new NetError({ op, code, detail: `${spec}: ${detail}` });
}

/**
 * The inherited socket `spec` names: `fd:3` (any descriptor, such as inetd's `fd:0`) or `fd:web` (a name from
 * `LISTEN_FDNAMES`). Taking it makes it close-on-exec and non-blocking; each is taken once. With `dup`, a
 * duplicate is taken instead (Python's `socket.fromfd`): the descriptor stays its owner's, and may be taken
 * again (the two share the socket, and its non-blocking mode).
 *
 * @throws NetError of `op`: `EINVAL` (no such name, or taken already), `EBADF` (no such descriptor), `ENOTSOCK`,
 *   `EAFNOSUPPORT` (a socket of another family).
 */
export function inheritedSocket(spec: string, op: Op = 'listen', options: { dup?: boolean } = {}): InheritedSocket {
  const { count, names } = passedSockets();
  const what = spec.slice('fd:'.length);
  let fd: number;
  if (/^\d+$/.test(what)) {
    fd = Number(what);
  } else {
    const at = names.indexOf(what);
    if (what === '' || at < 0) {
      throw noSocket(op, spec, 'EINVAL', count === 0
        ? 'no sockets were passed to this process (LISTEN_FDS and LISTEN_PID name none for it)'
        : `no inherited socket is named ${JSON.stringify(what)} (LISTEN_FDNAMES: ${names.join(', ')})`);
    }
    fd = LISTEN_FDS_START + at;
  }
  if (!options.dup && taken.has(fd)) throw noSocket(op, spec, 'EINVAL', 'this inherited socket is taken already');
  const named = fd - LISTEN_FDS_START < count ? names[fd - LISTEN_FDS_START] : undefined;
  let inherited: InheritedSocket;
  let copy: number | undefined;
  try {
    if (options.dup) fd = copy = native.dup(fd);
    native.adopt(fd);
    inherited = describe(fd);
  } catch (err) {
    if (copy !== undefined) native.close(copy);
    if (err instanceof NetError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw noSocket(op, spec, code, code === 'EBADF' ? 'no such descriptor' : code === 'ENOTSOCK' ? 'not a socket' : (err as Error).message);
  }
  taken.add(fd);
  return named ? { ...inherited, fdName: named } : inherited;

  function describe(d: number): InheritedSocket {
    const domain = native.getsockopt(d, consts.SOL_SOCKET, consts.SO_DOMAIN, 0);
    const type = native.getsockopt(d, consts.SOL_SOCKET, consts.SO_TYPE, 0);
    const v6only = domain === consts.AF_INET6 && native.getsockopt(d, consts.IPPROTO_IPV6, consts.IPV6_V6ONLY, 0) === 1;
    const network = networkFor(domain, type, v6only);
    if (!network) throw noSocket(op, spec, 'EAFNOSUPPORT', 'not an inet or unix stream, datagram or seqpacket socket');
    const listening = type !== consts.SOCK_DGRAM && native.getsockopt(d, consts.SOL_SOCKET, consts.SO_ACCEPTCONN, 0) === 1;
    const addr = nameOf(d, network) ?? { network, path: '', abstract: false } as Address;
    return { ...addr, fd: d, listening };
  }
}

/**
 * Every socket passed with LISTEN_FDS (in order, named as LISTEN_FDNAMES names them), taken; empty when none was
 * passed to this process.
 *
 * @example
 * for (const s of listenFds()) console.log(s.fd, s.fdName, formatAddress(s))
 */
export function listenFds(): InheritedSocket[] {
  const { count } = passedSockets();
  const all: InheritedSocket[] = [];
  for (let fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + count; fd++) if (!taken.has(fd)) all.push(inheritedSocket(`fd:${fd}`));
  return all;
}

/** An address of the grammar (text or object), or an inherited socket (`fd:3`, `fd:NAME`, or one taken already). */
export function addressOrInherited(op: Op, addr: Address | string): Address {
  if (typeof addr === 'string') return isInheritedText(addr) ? inheritedSocket(addr, op) : parseAddress(addr);
  return isInherited(addr) ? addr : toAddress(addr);
}

/** The address an inherited socket has, without what makes it stand for the socket. */
export const plainAddress = (a: Address): Address => {
  if (!isInherited(a)) return a;
  const { fd: _fd, fdName: _name, listening: _listening, ...rest } = a;
  return rest as Address;
};

