import * as net from 'node:net';
import { TLSSocket } from 'node:tls';
import type { UnixAddress } from '../core/address.js';
import { wrap } from '../core/errors.js';
import { connectSocket, createStreamServer, socketOnFd, startListening, StreamConn, StreamListener } from '../core/stream.js';
import { isInherited, plainAddress } from '../inherited.js';
import type { Conn, DialOptions, Listener, ListenOptions, PeerGate, StreamAdapter } from '../core/types.js';
import { connectUnix, NativeDuplex, recvFdsOn, sendFdsOn } from '../native/conn.js';
import { consts, fdOfNode, native, unixSockaddr } from '../native/index.js';
import { Control } from '../native/options.js';
import { applyRights, bindPrivately, rightsOf } from './access.js';
import { bindError, checkNamed, nativeConn, noLocal, remoteOf, unnamed } from './common.js';
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
    if (isInherited(addr)) {
      socket = socketOnFd(addr.fd);
    } else if (addr.abstract) {
      socket = socketOnFd(await connectUnix(consts.SOCK_STREAM, unixSockaddr(addr.path, true), options.signal));
    } else {
      socket = await connectSocket({ path: addr.path }, options.signal);
    }
    return isInherited(addr) ? wrapConn(socket, plainAddress(addr) as UnixAddress, remoteOf(addr.fd, 'unix'))
      : wrapConn(socket, unnamed('unix'), addr);
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function listen(addr: UnixAddress, options: ListenOptions, gate: PeerGate | undefined): Promise<Listener> {
  checkNamed('listen', addr);
  const server = createStreamServer();
  // An inherited socket's file is its manager's, never this process's to remove.
  const file = addr.abstract || isInherited(addr) ? undefined : new SocketFile(addr.path);
  try {
    if (isInherited(addr)) {
      await startListening(server, { fd: addr.fd, backlog: options.backlog } as net.ListenOptions);
    } else if (file) {
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
  addr = plainAddress(addr) as UnixAddress;
  return new StreamListener(server, {
    network: 'unix',
    addr,
    // A client that bound a name (a path, an abstract name) is known by it; most are unnamed.
    wrapConn: (s) => wrapConn(s as net.Socket, addr, remoteOf(fdOfNode(s as net.Socket), 'unix')),
    control: new Control('unix', () => fdOfNode(server), () => addr),
    beforeClose: () => file?.release(),
    acceptQueue: options.acceptQueue,
    gate,
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

/** AF_UNIX SOCK_STREAM on paths and abstract names. */
export const unix: StreamAdapter = {
  dial: (addr, options) => dial(addr as UnixAddress, options),
  listen: (addr, options, gate) => listen(addr as UnixAddress, options, gate),
};
