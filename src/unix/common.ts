import { hasSocketFile, type UnixAddress, type UnixNetwork } from '../core/address.js';
import { NetError, wrap, type Op } from '../core/errors.js';
import { consts, nameOf, native, unixSockaddr } from '../native/index.js';
import { isInherited } from '../inherited.js';
import { networkOf } from '../core/networks.js';
import { StreamConn } from '../core/stream.js';
import type { Conn, FileAccess } from '../core/types.js';
import type { NativeDuplex } from '../native/conn.js';
import { Control } from '../native/options.js';
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

/** A unix address to listen on or dial must have a name (an inherited socket is named by its descriptor). */
export function checkNamed(op: Op, addr: UnixAddress): void {
  if (addr.path === '' && !isInherited(addr)) throw new NetError({ op, network: addr.network, addr, code: 'EINVAL', detail: 'unnamed unix address' });
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
const passCredentials = (fd: number): void => native.setsockopt(fd, consts.SOL_SOCKET, consts.SO_PASSCRED, 1);

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
export async function bindNative(op: Op, type: 'SOCK_DGRAM' | 'SOCK_SEQPACKET', addr: UnixAddress,
  access: FileAccess = {}): Promise<Bound> {
  if (isInherited(addr)) {
    // Datagrams queued before this carry credentials only if their sender asked (systemd's PassCredentials=yes).
    if (type === 'SOCK_DGRAM') passCredentials(addr.fd);
    return { fd: addr.fd, file: undefined }; // its file is its manager's
  }
  const file = hasSocketFile(addr) ? new SocketFile(addr.path) : undefined;
  let fd = -1;
  try {
    const rights = rightsOf(access);
    // The type by name: reading its number is the first touch of the addon, whose absence is this bind's error.
    fd = native.socket(consts.AF_UNIX, consts[type]);
    if (type === 'SOCK_DGRAM') passCredentials(fd); // before bind: from the first datagram on
    if (file) await claimPath(file.absolute);
    bindPrivately(rights, () => native.bind(fd, unixSockaddr(addr.path, addr.abstract)));
    await file?.bound();
    if (file) await applyRights(file.absolute, rights);
    return { fd, file };
  } catch (err) {
    if (fd >= 0) native.close(fd);
    await file?.release();
    throw bindError(op, addr, err);
  }
}

/** Undoes {@link bindNative} after a later step failed with `err`: the fd closed, the file freed; the NetError. */
export async function unbind(op: Op, addr: UnixAddress, bound: Bound, err: unknown): Promise<NetError> {
  native.close(bound.fd);
  await bound.file?.release();
  return wrap(op, addr.network, addr, err);
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
    message: networkOf(network).messages ? (data) => send(data, null) : undefined,
  });
}
