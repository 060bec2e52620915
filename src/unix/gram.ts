import type { UnixAddress } from '../core/address.js';
import { DatagramSocketImpl } from '../core/datagram.js';
import type { BindOptions } from '../core/types.js';
import type { DatagramAdapter, PeerGate, ServableDatagramSocket } from '../core/adapter.js';
import { NativeDatagramHandle } from '../native/datagram.js';
import { nameOf } from '../native/index.js';
import { peerGate } from './peers.js';
import { bindNative, passCredentials, unbind, type Bound } from './common.js';

// unixgram: AF_UNIX SOCK_DGRAM on the addon's batched datagram socket (the one udp uses).

/** The socket over a bound descriptor; `localAddr` its name, `bound.file` removed on close. */
function open(bound: Bound, localAddr: UnixAddress, options: BindOptions, gate: PeerGate | undefined): ServableDatagramSocket {
  const { fd, file } = bound;
  return new DatagramSocketImpl({
    network: 'unixgram', localAddr, recvQueue: options.recvQueue, gate,
    open: (events) => new NativeDatagramHandle(fd, 'unixgram', false, options.maxDatagram, events, localAddr).withBacklog(options),
    release: file ? () => file.release() : undefined,
  });
}

/** AF_UNIX SOCK_DGRAM; `unixgram:` (no name) autobinds to an abstract name, so that replies can reach it. */
export const unixgram: DatagramAdapter = {
  async bind(a, options, gate) {
    const addr = a as UnixAddress;
    const bound = await bindNative('bind', addr, options);
    try {
      return open(bound, addr.path === '' ? nameOf(bound.fd, 'unixgram') as UnixAddress : addr, options, gate);
    } catch (err) {
      throw await unbind('bind', addr, bound, err);
    }
  },
  gate: peerGate,
  async adopt(fd, addr, options, gate) {
    // Datagrams queued before this carry credentials only if their sender asked (systemd's PassCredentials=yes).
    passCredentials(fd);
    // Its file is its manager's.
    return open({ fd, file: undefined }, addr as UnixAddress, options, gate);
  },
};
