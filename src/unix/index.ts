import type { UnixAddress, UnixNetwork } from '../core/address.js';
import { Codes, NetError, wrap, type Op } from '../core/errors.js';
import { connectSocket, createStreamServer, startListening, StreamConn, StreamListener } from '../core/stream.js';
import type { Conn, DialOptions, Listener, ListenOptions, StreamAdapter } from '../core/types.js';
import { claimPath, PathInUse, SocketFile } from './sockfile.js';

/** An unnamed unix socket: a client that never bound a path. */
const unnamed = (network: UnixNetwork): UnixAddress => ({ network, path: '', abstract: false });

/** Abstract names need exact-length sockaddrs, which Node 20 cannot make; the native addon will. */
function checkNamed(op: Op, addr: UnixAddress): void {
  if (addr.abstract) {
    throw new NetError({ op, network: addr.network, addr, code: Codes.UNSUPPORTED,
      detail: 'abstract unix names need the native addon, which is not part of this build' });
  }
  if (addr.path === '') throw new NetError({ op, network: addr.network, addr, code: 'EINVAL', detail: 'unnamed unix address' });
}

async function dial(addr: UnixAddress, options: DialOptions): Promise<Conn> {
  checkNamed('dial', addr);
  try {
    const socket = await connectSocket({ path: addr.path }, options.signal);
    return new StreamConn(socket, addr.network, unnamed(addr.network), addr);
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function listen(addr: UnixAddress, options: ListenOptions): Promise<Listener> {
  checkNamed('listen', addr);
  const server = createStreamServer();
  const file = new SocketFile(addr.path);
  try {
    await claimPath(file.absolute);
    await startListening(server, { path: await file.bindPath(), backlog: options.backlog });
    await file.bound();
  } catch (err) {
    await file.release();
    server.close();
    if (err instanceof PathInUse) {
      throw new NetError({ op: 'listen', network: addr.network, addr, code: err.code, detail: err.detail });
    }
    throw wrap('listen', addr.network, addr, err);
  }
  return new StreamListener(server, {
    network: addr.network,
    addr,
    wrapConn: (s) => new StreamConn(s, addr.network, addr, unnamed(addr.network)),
    beforeClose: () => file.release(),
    queue: options.queue,
  });
}

/** AF_UNIX SOCK_STREAM on file paths. */
export const unix: StreamAdapter = {
  shape: 'stream',
  dial: (addr, options) => dial(addr as UnixAddress, options),
  listen: (addr, options) => listen(addr as UnixAddress, options),
};
