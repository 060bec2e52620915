import { hasSocketFile, type UnixAddress, type UnixNetwork } from '../core/address.js';
import { invalid, NetError, wrap, type Op } from '../core/errors.js';
import { consts, nameOf, native, unixSockaddr } from '../native/index.js';
import { networkFor, rowOf, socketTypeOf } from '../core/networks.js';
import type { FileAccess } from '../core/types.js';
import { applyRights, bindPrivately, NoSuchId, rightsOf } from './access.js';
import { claimPath, PathInUse, SocketFile } from './sockfile.js';

// What the three AF_UNIX adapters (stream.ts, packet.ts, gram.ts) share: names, and binding on the addon.

/** An unnamed unix socket: a client that never bound a name. */
export const unnamed = (network: UnixNetwork): UnixAddress => ({ network, path: '', abstract: false });

/** The peer of a connected unix descriptor (an inherited connection): its name, or unnamed as most clients are. */
export function remoteOf(fd: number, network: UnixNetwork): UnixAddress {
  try {
    return (nameOf(fd, network, true) as UnixAddress | null) ?? unnamed(network);
  } catch {
    return unnamed(network);
  }
}

/** A unix address to listen on or dial must have a name. */
export function checkNamed(op: Op, addr: UnixAddress): void {
  if (addr.path === '') throw invalid(op, 'unnamed unix address', addr.network, addr);
}

/** A unix stream client's own address cannot be chosen (Node connects unix streams itself, unbound). */
export const noLocal = (addr: UnixAddress): NetError => new NetError({ op: 'dial', network: addr.network, addr,
  code: 'EOPNOTSUPP', detail: 'a unix stream client cannot choose its own address (unixgram ones can)' });

/** Errors of a bind on a path: a taken path is EADDRINUSE with the reason, anything else is wrapped. */
export function bindError(op: Op, addr: UnixAddress, err: unknown): NetError {
  if (err instanceof PathInUse || err instanceof NoSuchId) return new NetError({ op, network: addr.network, addr, code: err.code, detail: err.detail });
  return wrap(op, addr.network, addr, err);
}

/** SO_PASSCRED: every datagram then carries its sender's credentials (Datagram.credentials, the peer check). */
export const passCredentials = (fd: number): void => native.setsockopt(fd, consts.SOL_SOCKET, consts.SO_PASSCRED, 1);

/** An addon socket bound to a unix address, and the socket file it made (on a path). */
export interface Bound {
  fd: number;
  file: SocketFile | undefined;
}

/**
 * Binds a new addon socket of `type` to `addr`: a path is claimed first (a live server's path is never taken,
 * a stale file is replaced), an abstract name is bound exactly, an unnamed address autobinds. Errors are
 * NetErrors of `op`.
 */
export async function bindNative(op: Op, addr: UnixAddress, access: FileAccess = {}): Promise<Bound> {
  const datagrams = rowOf(addr.network).shape === 'datagram';
  const file = hasSocketFile(addr) ? new SocketFile(addr.path) : undefined;
  let fd = -1;
  try {
    // The first touch of the addon: its absence is this bind's error.
    fd = native.socket(consts.AF_UNIX, socketTypeOf(addr.network));
    if (datagrams) passCredentials(fd); // before bind: from the first datagram on
    const sockaddr = unixSockaddr(addr.path, addr.abstract);
    if (file) await bindFile(file, access, (privately) => privately(() => native.bind(fd, sockaddr)));
    else native.bind(fd, sockaddr);
    return { fd, file };
  } catch (err) {
    if (fd >= 0) native.close(fd);
    await file?.release();
    throw bindError(op, addr, err);
  }
}

/**
 * The one bind sequence of a unix socket on a path: a live server's path is never taken (claimPath), the file
 * never exists looser than asked (the synchronous bind call runs under bindPrivately's umask), then it is
 * recorded as ours and gets its owner and mode. `bind(privately)` binds, its bind call wrapped in `privately`.
 */
export async function bindFile(file: SocketFile, access: FileAccess,
  bind: (privately: <T>(call: () => T) => T) => unknown): Promise<void> {
  const rights = rightsOf(access);
  await claimPath(file.absolute);
  await bind((call) => bindPrivately(rights, call));
  await file.bound();
  await applyRights(file.absolute, rights);
}

/** Undoes {@link bindNative} after a later step failed with `err`: the fd closed, the file freed; the NetError. */
export async function unbind(op: Op, addr: UnixAddress, bound: Bound, err: unknown): Promise<NetError> {
  native.close(bound.fd);
  await bound.file?.release();
  return wrap(op, addr.network, addr, err);
}

/**
 * Swaps the files of two unix socket paths in one step (renameat2 RENAME_EXCHANGE, see the addon's
 * exchangePaths): whoever looks either up meanwhile finds one or the other, never nothing. Throws, changing
 * nothing, where it cannot (EINVAL: the filesystem has no exchange; EACCES, EPERM: not permitted here).
 */
export function exchangeSocketFiles(a: UnixAddress, b: UnixAddress): void {
  try {
    native.exchangePaths(a.path, b.path);
  } catch (err) {
    throw wrap('bind', a.network, b, err);
  }
}

/**
 * The unix socket bound to the file at `path`, as the kernel knows it (matched by the file's device and inode,
 * whatever name its server bound it by): its network and whether it listens; undefined when none is (a file left
 * behind). Nothing connects to it.
 */
export function unixSocketAt(path: string): { network: UnixNetwork; listening: boolean } | undefined {
  let found;
  try {
    found = native.unixSocketAt(path);
  } catch (err) {
    throw wrap('bind', 'unix', { network: 'unix', path, abstract: false }, err);
  }
  const network = found && networkFor(consts.AF_UNIX, found[0], false);
  return network ? { network: network as UnixNetwork, listening: found![1] } : undefined;
}
