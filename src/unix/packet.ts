import type { Duplex } from 'node:stream';
import type { UnixAddress } from '../core/address.js';
import { wrap } from '../core/errors.js';
import { StreamListener } from '../core/stream.js';
import type { Conn, DialOptions, Listener, ListenOptions } from '../core/types.js';
import type { PeerGate, StreamAdapter } from '../core/adapter.js';
import { connectUnix, nativeConn, NativeDuplex, NativeServer } from '../native/conn.js';
import { consts, native, unixSockaddr } from '../native/index.js';
import { Control } from '../native/options.js';
import { peerGate } from './peers.js';
import { bindNative, checkNamed, noLocal, remoteOf, unbind, unnamed, type Bound } from './common.js';

// unixpacket: AF_UNIX SOCK_SEQPACKET on the addon, in the stream shape (each chunk is one message).

/** Wraps a connected socket. */
const wrapConn = (d: NativeDuplex, local: UnixAddress, remote: UnixAddress): Conn => nativeConn(d, 'unixpacket', local, remote);

/** The Conn over a connected descriptor (closed here if it cannot be wrapped). */
function connOn(fd: number, local: UnixAddress, remote: UnixAddress): Conn {
  let duplex: NativeDuplex;
  try {
    duplex = new NativeDuplex(fd);
  } catch (err) {
    native.close(fd);
    throw err;
  }
  return wrapConn(duplex, local, remote);
}

async function dial(addr: UnixAddress, options: DialOptions): Promise<Conn> {
  checkNamed('dial', addr);
  if (options.local) throw noLocal(addr);
  try {
    const fd = await connectUnix(consts.SOCK_SEQPACKET, unixSockaddr(addr.path, addr.abstract), options.signal);
    return connOn(fd, unnamed('unixpacket'), addr);
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function adopt(fd: number, addr: UnixAddress): Promise<Conn> {
  try {
    return connOn(fd, addr, remoteOf(fd, 'unixpacket'));
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function listen(addr: UnixAddress, options: ListenOptions, gate: PeerGate | undefined): Promise<Listener> {
  checkNamed('listen', addr);
  return listenOn(await bindNative('listen', addr, options), addr, options, gate);
}

/** Listens on a bound descriptor (listen(2) again on an inherited one only sets its backlog). */
async function listenOn(bound: Bound, addr: UnixAddress, options: ListenOptions, gate: PeerGate | undefined): Promise<Listener> {
  const { fd, file } = bound;
  let server: NativeServer;
  try {
    native.listen(fd, options.backlog ?? 511);
    server = new NativeServer(fd, (cfd) => new NativeDuplex(cfd));
  } catch (err) {
    throw await unbind('listen', addr, bound, err);
  }
  return new StreamListener(server, {
    network: 'unixpacket',
    addr,
    wrapConn: (d: Duplex) => wrapConn(d as NativeDuplex, addr, unnamed('unixpacket')),
    control: new Control('unixpacket', () => fd, () => addr),
    beforeClose: () => file?.release(),
    acceptQueue: options.acceptQueue,
    gate,
  });
}

/** AF_UNIX SOCK_SEQPACKET: connections that keep message boundaries. */
export const unixpacket: StreamAdapter = {
  dial: (addr, options) => dial(addr as UnixAddress, options),
  listen: (addr, options, gate) => listen(addr as UnixAddress, options, gate),
  adopt: (fd, addr) => adopt(fd, addr as UnixAddress),
  // Its file is its manager's, never this process's to remove.
  gate: peerGate,
  adoptListener: (fd, addr, options, gate) => listenOn({ fd, file: undefined }, addr as UnixAddress, options, gate),
};
