import * as net from 'node:net';
import type { UnixAddress } from '../core/address.js';
import { wrap } from '../core/errors.js';
import { connectSocket, createStreamServer, socketOnFd, startListening, StreamConn, StreamListener } from '../core/stream.js';
import type { Conn, DialOptions, Listener, ListenOptions } from '../core/types.js';
import type { PeerGate, StreamAdapter } from '../core/adapter.js';
import { connectUnix, recvFdsOn, sendFdsOn } from '../native/conn.js';
import { consts, fdOfNode, native, unixSockaddr } from '../native/index.js';
import { Control } from '../native/options.js';
import { peerGate } from './peers.js';
import { bindError, bindFile, checkNamed, noLocal, remoteOf, unnamed } from './common.js';
import { SocketFile } from './sockfile.js';

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
    const socket = addr.abstract
      ? socketOnFd(await connectUnix(consts.SOCK_STREAM, unixSockaddr(addr.path, true), options.signal))
      : await connectSocket({ path: addr.path }, options.signal);
    return wrapConn(socket, unnamed('unix'), addr);
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function adopt(fd: number, addr: UnixAddress): Promise<Conn> {
  try {
    return wrapConn(socketOnFd(fd), addr, remoteOf(fd, 'unix'));
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
      await bindFile(file, options, async (privately) =>
        startListening(server, { path: await file.bindPath(), backlog: options.backlog }, privately));
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
  return listener(server, addr, file, options, gate);
}

async function adoptListener(fd: number, addr: UnixAddress, options: ListenOptions, gate: PeerGate | undefined): Promise<Listener> {
  const server = createStreamServer();
  try {
    await startListening(server, { fd, backlog: options.backlog } as net.ListenOptions);
  } catch (err) {
    server.close();
    throw wrap('listen', addr.network, addr, err);
  }
  // An inherited socket's file is its manager's, never this process's to remove.
  return listener(server, addr, undefined, options, gate);
}

/** The Listener over a listening server; `file`: the socket file it made, removed on close. */
function listener(server: net.Server, addr: UnixAddress, file: SocketFile | undefined, options: ListenOptions,
  gate: PeerGate | undefined): Listener {
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

/** AF_UNIX SOCK_STREAM on paths and abstract names. */
export const unix: StreamAdapter = {
  dial: (addr, options) => dial(addr as UnixAddress, options),
  listen: (addr, options, gate) => listen(addr as UnixAddress, options, gate),
  adopt: (fd, addr) => adopt(fd, addr as UnixAddress),
  gate: peerGate,
  adoptListener: (fd, addr, options, gate) => adoptListener(fd, addr as UnixAddress, options, gate),
};
