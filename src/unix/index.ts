import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { UnixAddress, UnixNetwork } from '../core/address.js';
import { NetError, wrap, type Op } from '../core/errors.js';
import { connectSocket, createStreamServer, startListening, StreamConn, StreamListener } from '../core/stream.js';
import type {
  Conn, DatagramAdapter, DialOptions, Listener, ListenOptions, ServableDatagramSocket, StreamAdapter,
} from '../core/types.js';
import { connectUnix, NativeDuplex, NativeServer, recvFdsOn, sendFdsOn } from '../native/conn.js';
import { DatagramSocketImpl } from '../core/datagram.js';
import { NativeDatagramHandle } from '../native/datagram.js';
import { fdOfNode, consts, nameOf, native, unixSockaddr } from '../native/index.js';
import { Control } from '../native/options.js';
import { claimPath, PathInUse, SocketFile } from './sockfile.js';

/** An unnamed unix socket: a client that never bound a name. */
const unnamed = (network: UnixNetwork): UnixAddress => ({ network, path: '', abstract: false });

function checkNamed(op: Op, addr: UnixAddress): void {
  if (addr.path === '') throw new NetError({ op, network: addr.network, addr, code: 'EINVAL', detail: 'unnamed unix address' });
}

/** Errors of a bind on a path: a taken path is EADDRINUSE with the reason, anything else is wrapped. */
function bindError(op: Op, addr: UnixAddress, err: unknown): NetError {
  if (err instanceof PathInUse) return new NetError({ op, network: addr.network, addr, code: err.code, detail: err.detail });
  return wrap(op, addr.network, addr, err);
}

/**
 * Binds a new addon socket of `type` to `addr`: a path is claimed first (a live server's path is never taken,
 * a stale file is replaced), an abstract name is bound exactly, an unnamed address autobinds.
 */
async function bindNative(type: number, addr: UnixAddress): Promise<{ fd: number; file: SocketFile | undefined }> {
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

// ---- unix: SOCK_STREAM on libuv's sockets (abstract names are made by the addon and handed over by fd)

function streamConn(socket: net.Socket, local: UnixAddress, remote: UnixAddress): Conn {
  const fd = () => fdOfNode(socket);
  return new StreamConn(socket, 'unix', local, remote, {
    control: new Control('unix', fd, () => remote),
    fds: { send: (data, fds) => sendFdsOn(fd(), data, fds), recvDirect: (signal) => recvFdsOn(fd(), signal) },
  });
}

async function dialStream(addr: UnixAddress, options: DialOptions): Promise<Conn> {
  checkNamed('dial', addr);
  try {
    let socket: net.Socket;
    if (addr.abstract) {
      const fd = await connectUnix(consts.SOCK_STREAM, unixSockaddr(addr.path, true), options.signal);
      // pauseOnCreate: libuv must not read before the first read() (descriptors may come first).
      socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true, pauseOnCreate: true } as net.SocketConstructorOpts);
    } else {
      socket = await connectSocket({ path: addr.path }, options.signal);
    }
    return streamConn(socket, unnamed('unix'), addr);
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function listenStream(addr: UnixAddress, options: ListenOptions): Promise<Listener> {
  checkNamed('listen', addr);
  const server = createStreamServer();
  const file = addr.abstract ? undefined : new SocketFile(addr.path);
  try {
    if (file) {
      await claimPath(file.absolute);
      await startListening(server, { path: await file.bindPath(), backlog: options.backlog });
      await file.bound();
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
    wrapConn: (s) => streamConn(s as net.Socket, addr, unnamed('unix')),
    control: new Control('unix', () => fdOfNode(server), () => addr),
    beforeClose: () => file?.release(),
    acceptQueue: options.acceptQueue,
  });
}

/** AF_UNIX SOCK_STREAM on paths and abstract names. */
export const unix: StreamAdapter = {
  dial: (addr, options) => dialStream(addr as UnixAddress, options),
  listen: (addr, options) => listenStream(addr as UnixAddress, options),
};

// ---- unixpacket: SOCK_SEQPACKET on the addon, in the stream shape (each chunk is one message)

function packetConn(d: NativeDuplex, local: UnixAddress, remote: UnixAddress): Conn {
  const send = (data: Uint8Array, fds: readonly number[] | null) =>
    new Promise<void>((resolve, reject) => d.sendWith(data, fds, (err) => (err ? reject(err) : resolve())));
  return new StreamConn(d, 'unixpacket', local, remote, {
    control: new Control('unixpacket', () => (d.destroyed ? -1 : d.fd), () => remote),
    fds: { send, fdsOf: (chunk) => d.fdsOf(chunk) },
    message: (data) => send(data, null),
  });
}

async function dialPacket(addr: UnixAddress, options: DialOptions): Promise<Conn> {
  checkNamed('dial', addr);
  try {
    const fd = await connectUnix(consts.SOCK_SEQPACKET, unixSockaddr(addr.path, addr.abstract), options.signal);
    let duplex: NativeDuplex;
    try {
      duplex = new NativeDuplex(fd);
    } catch (err) {
      native.close(fd);
      throw err;
    }
    return packetConn(duplex, unnamed('unixpacket'), addr);
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function listenPacket(addr: UnixAddress, options: ListenOptions): Promise<Listener> {
  checkNamed('listen', addr);
  let bound: Awaited<ReturnType<typeof bindNative>>;
  try {
    bound = await bindNative(consts.SOCK_SEQPACKET, addr);
  } catch (err) {
    throw bindError('listen', addr, err);
  }
  const { fd, file } = bound;
  let server: NativeServer;
  try {
    native.listen(fd, options.backlog ?? 511);
    server = new NativeServer(fd, (cfd) => new NativeDuplex(cfd));
  } catch (err) {
    native.close(fd);
    await file?.release();
    throw wrap('listen', addr.network, addr, err);
  }
  return new StreamListener(server, {
    network: 'unixpacket',
    addr,
    wrapConn: (d: Duplex) => packetConn(d as NativeDuplex, addr, unnamed('unixpacket')),
    control: new Control('unixpacket', () => fd, () => addr),
    beforeClose: () => file?.release(),
    acceptQueue: options.acceptQueue,
  });
}

/** AF_UNIX SOCK_SEQPACKET: connections that keep message boundaries. */
export const unixpacket: StreamAdapter = {
  dial: (addr, options) => dialPacket(addr as UnixAddress, options),
  listen: (addr, options) => listenPacket(addr as UnixAddress, options),
};

// ---- unixgram: SOCK_DGRAM on the addon's batched datagram socket (the one udp uses)

/** AF_UNIX SOCK_DGRAM; `unixgram:` (no name) autobinds to an abstract name, so that replies can reach it. */
export const unixgram: DatagramAdapter = {
  async bind(a, options): Promise<ServableDatagramSocket> {
    const addr = a as UnixAddress;
    let bound: Awaited<ReturnType<typeof bindNative>>;
    try {
      bound = await bindNative(consts.SOCK_DGRAM, addr);
    } catch (err) {
      throw bindError('bind', addr, err);
    }
    const { fd, file } = bound;
    try {
      const localAddr = addr.path === '' ? nameOf(fd, 'unixgram')! : addr;
      return new DatagramSocketImpl({
        network: 'unixgram', localAddr, recvQueue: options.recvQueue,
        open: (events) => new NativeDatagramHandle(fd, 'unixgram', false, options.maxDatagram, events, localAddr),
        release: file ? () => file.release() : undefined,
      });
    } catch (err) {
      native.close(fd);
      await file?.release();
      throw wrap('bind', addr.network, addr, err);
    }
  },
};
