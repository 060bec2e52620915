import type { InetAddress, InetNetwork } from '../core/address.js';
import { wrap } from '../core/errors.js';
import { resolveInet } from '../core/resolve.js';
import type { BindOptions, DatagramAdapter, ServableDatagramSocket } from '../core/types.js';
import { NativeDatagramSocket } from '../native/datagram.js';
import { K, native, nameOf } from '../native/index.js';

async function bind(addr: InetAddress, options: BindOptions): Promise<ServableDatagramSocket> {
  const network: InetNetwork = addr.network;
  let fd = -1;
  try {
    const { host, family } = await resolveInet(addr, 'bind');
    fd = native.socket(family === 6 ? K.AF_INET6 : K.AF_INET, K.SOCK_DGRAM);
    if (family === 6) native.setsockopt(fd, K.IPPROTO_IPV6, K.IPV6_V6ONLY, (options.ipv6Only ?? network === 'udp6') ? 1 : 0);
    if (options.reuseAddr) native.setsockopt(fd, K.SOL_SOCKET, K.SO_REUSEADDR, 1);
    if (options.reusePort) native.setsockopt(fd, K.SOL_SOCKET, K.SO_REUSEPORT, 1);
    native.bind(fd, native.inetSockaddr(host, addr.port, family === 6));
    const localAddr = nameOf(fd, network)!;
    return new NativeDatagramSocket({ network, fd, localAddr, v6: family === 6, recvQueue: options.recvQueue, maxDatagram: options.maxDatagram });
  } catch (err) {
    if (fd >= 0) native.close(fd);
    throw wrap('bind', network, addr, err);
  }
}

/**
 * UDP over IPv4 and IPv6 on the addon's batched datagram socket (the same one unixgram uses): the family comes
 * from the address or its pin, host names are resolved before bind.
 */
export const udp: DatagramAdapter = {
  bind: (addr, options) => bind(addr as InetAddress, options),
};
