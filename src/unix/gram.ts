import type { UnixAddress } from '../core/address.js';
import { DatagramSocketImpl } from '../core/datagram.js';
import type { DatagramAdapter, ServableDatagramSocket } from '../core/types.js';
import { NativeDatagramHandle } from '../native/datagram.js';
import { nameOf } from '../native/index.js';
import { bindNative, unbind } from './common.js';
import { isInherited, plainAddress } from '../inherited.js';

// unixgram: AF_UNIX SOCK_DGRAM on the addon's batched datagram socket (the one udp uses).

/** AF_UNIX SOCK_DGRAM; `unixgram:` (no name) autobinds to an abstract name, so that replies can reach it. */
export const unixgram: DatagramAdapter = {
  async bind(a, options, gate): Promise<ServableDatagramSocket> {
    const addr = a as UnixAddress;
    const bound = await bindNative('bind', 'SOCK_DGRAM', addr, options);
    const { fd, file } = bound;
    try {
      const localAddr = addr.path === '' && !isInherited(addr) ? nameOf(fd, 'unixgram')! : plainAddress(addr);
      return new DatagramSocketImpl({
        network: 'unixgram', localAddr, recvQueue: options.recvQueue, gate,
        open: (events) => new NativeDatagramHandle(fd, 'unixgram', false, options.maxDatagram, events, localAddr).withBacklog(options),
        release: file ? () => file.release() : undefined,
      });
    } catch (err) {
      throw await unbind('bind', addr, bound, err);
    }
  },
};
