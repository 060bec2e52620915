import type { Duplex } from 'node:stream';
import type { UnixAddress } from '../core/address.js';
import { wrap } from '../core/errors.js';
import { StreamListener } from '../core/stream.js';
import type { Conn, DialOptions, Listener, ListenOptions, PeerGate, StreamAdapter } from '../core/types.js';
import { connectUnix, NativeDuplex, NativeServer } from '../native/conn.js';
import { consts, native, unixSockaddr } from '../native/index.js';
import { Control } from '../native/options.js';
import { bindNative, checkNamed, nativeConn, noLocal, remoteOf, unbind, unnamed } from './common.js';
import { isInherited, plainAddress } from '../inherited.js';

// unixpacket: AF_UNIX SOCK_SEQPACKET on the addon, in the stream shape (each chunk is one message).

/** Wraps a connected socket. */
const wrapConn = (d: NativeDuplex, local: UnixAddress, remote: UnixAddress): Conn => nativeConn(d, 'unixpacket', local, remote);

async function dial(addr: UnixAddress, options: DialOptions): Promise<Conn> {
  checkNamed('dial', addr);
  if (options.local) throw noLocal(addr);
  try {
    const fd = isInherited(addr) ? addr.fd
      : await connectUnix(consts.SOCK_SEQPACKET, unixSockaddr(addr.path, addr.abstract), options.signal);
    let duplex: NativeDuplex;
    try {
      duplex = new NativeDuplex(fd);
    } catch (err) {
      native.close(fd);
      throw err;
    }
    return isInherited(addr) ? wrapConn(duplex, plainAddress(addr) as UnixAddress, remoteOf(fd, 'unixpacket'))
      : wrapConn(duplex, unnamed('unixpacket'), addr);
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function listen(addr: UnixAddress, options: ListenOptions, gate: PeerGate | undefined): Promise<Listener> {
  checkNamed('listen', addr);
  const bound = await bindNative('listen', 'SOCK_SEQPACKET', addr, options);
  addr = plainAddress(addr) as UnixAddress;
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
};
