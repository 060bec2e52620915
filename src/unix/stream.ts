import * as net from 'node:net';
import type { UnixAddress } from '../core/address.js';
import { wrap } from '../core/errors.js';
import { connectSocket, createStreamServer, startListening, StreamConn, StreamListener } from '../core/stream.js';
import type { Conn, DialOptions, Listener, ListenOptions, PeerGate, StreamAdapter } from '../core/types.js';
import { connectUnix, recvFdsOn, sendFdsOn } from '../native/conn.js';
import { consts, fdOfNode, native, unixSockaddr } from '../native/index.js';
import { Control } from '../native/options.js';
import { applyRights, bindPrivately, rightsOf } from './access.js';
import { bindError, checkNamed, noLocal, unnamed } from './common.js';
import { claimPath, SocketFile } from './sockfile.js';

// unix: AF_UNIX SOCK_STREAM on libuv's sockets; abstract names are made by the addon and handed over by fd.

/** Wraps a connected socket. */
function wrapConn(socket: net.Socket, local: UnixAddress, remote: UnixAddress): Conn {
  const fd = () => fdOfNode(socket);
  return new StreamConn(socket, 'unix', local, remote, {
    control: new Control('unix', fd, () => remote),
    fds: { send: (data, fds) => sendFdsOn(fd(), data, fds), recvDirect: (signal) => recvFdsOn(fd(), signal) },
  });
}

async function dial(addr: UnixAddress, options: DialOptions): Promise<Conn> {
  checkNamed('dial', addr);
  if (options.local) throw noLocal(addr);
  try {
    let socket: net.Socket;
    if (addr.abstract) {
      const fd = await connectUnix(consts.SOCK_STREAM, unixSockaddr(addr.path, true), options.signal);
      // pauseOnCreate: libuv must not read before the first read() (descriptors may come first).
      socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true, pauseOnCreate: true } as net.SocketConstructorOpts);
    } else {
      socket = await connectSocket({ path: addr.path }, options.signal);
    }
    return wrapConn(socket, unnamed('unix'), addr);
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function listen(addr: UnixAddress, options: ListenOptions, gate: PeerGate | undefined): Promise<Listener> {
  checkNamed('listen', addr);
  const server = createStreamServer();
  const file = addr.abstract ? undefined : new SocketFile(addr.path);
  try {
    if (file) {
      const rights = rightsOf(options);
      await claimPath(file.absolute);
      await startListening(server, { path: await file.bindPath(), backlog: options.backlog },
        (bind) => bindPrivately(rights, bind));
      await file.bound();
      await applyRights(file.absolute, rights);
    } else {
      const fd = native.socket(consts.AF_UNIX, consts.SOCK_STREAM);
      try {
        native.bind(fd, unixSockaddr(addr.path, true));
      } catch (err) {
        native.close(fd);
        throw err;
      }
      await startListening(server, { fd, backlog: options.backlog } as net.ListenOptions);
    }
  } catch (err) {
    await file?.release();
    server.close();
    throw bindError('listen', addr, err);
  }
  return new StreamListener(server, {
    network: 'unix',
    addr,
    wrapConn: (s) => wrapConn(s as net.Socket, addr, unnamed('unix')),
    control: new Control('unix', () => fdOfNode(server), () => addr),
    beforeClose: () => file?.release(),
    acceptQueue: options.acceptQueue,
    gate,
  });
}

/** AF_UNIX SOCK_STREAM on paths and abstract names. */
export const unix: StreamAdapter = {
  dial: (addr, options) => dial(addr as UnixAddress, options),
  listen: (addr, options, gate) => listen(addr as UnixAddress, options, gate),
};
