import type { UnixAddress } from '../core/address.js';
import { DatagramSocketImpl } from '../core/datagram.js';
import { wrap } from '../core/errors.js';
import type { DatagramAdapter, ServableDatagramSocket } from '../core/types.js';
import { NativeDatagramHandle } from '../native/datagram.js';
import { consts, nameOf, native } from '../native/index.js';
import { bindError, bindNative } from './common.js';

// unixgram: AF_UNIX SOCK_DGRAM on the addon's batched datagram socket (the one udp uses).

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
