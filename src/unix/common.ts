import type { UnixAddress, UnixNetwork } from '../core/address.js';
import { NetError, wrap, type Op } from '../core/errors.js';
import { consts, native, unixSockaddr } from '../native/index.js';
import { claimPath, PathInUse, SocketFile } from './sockfile.js';

// What the three AF_UNIX adapters (stream.ts, packet.ts, gram.ts) share: names, and binding on the addon.

/** An unnamed unix socket: a client that never bound a name. */
export const unnamed = (network: UnixNetwork): UnixAddress => ({ network, path: '', abstract: false });

export function checkNamed(op: Op, addr: UnixAddress): void {
  if (addr.path === '') throw new NetError({ op, network: addr.network, addr, code: 'EINVAL', detail: 'unnamed unix address' });
}

/** Errors of a bind on a path: a taken path is EADDRINUSE with the reason, anything else is wrapped. */
export function bindError(op: Op, addr: UnixAddress, err: unknown): NetError {
  if (err instanceof PathInUse) return new NetError({ op, network: addr.network, addr, code: err.code, detail: err.detail });
  return wrap(op, addr.network, addr, err);
}

/**
 * Binds a new addon socket of `type` to `addr`: a path is claimed first (a live server's path is never taken,
 * a stale file is replaced), an abstract name is bound exactly, an unnamed address autobinds.
 */
export async function bindNative(type: number, addr: UnixAddress): Promise<{ fd: number; file: SocketFile | undefined }> {
  const file = addr.path !== '' && !addr.abstract ? new SocketFile(addr.path) : undefined;
  const fd = native.socket(consts.AF_UNIX, type);
  try {
    if (file) await claimPath(file.absolute);
    native.bind(fd, unixSockaddr(addr.path, addr.abstract));
    await file?.bound();
    return { fd, file };
  } catch (err) {
    native.close(fd);
    throw err;
  }
}
