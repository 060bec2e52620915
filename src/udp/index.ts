import type { InetAddress, InetNetwork } from '../core/address.js';
import { wrap } from '../core/errors.js';
import { NETWORKS } from '../core/networks.js';
import { resolveInet } from '../core/resolve.js';
import type { BindOptions } from '../core/types.js';
import type { DatagramAdapter, ServableDatagramSocket } from '../core/adapter.js';
import { DatagramSocketImpl } from '../core/datagram.js';
import { NativeDatagramHandle } from '../native/datagram.js';
import { consts, native, nameOf } from '../native/index.js';

async function bind(addr: InetAddress, options: BindOptions): Promise<ServableDatagramSocket> {
  const network: InetNetwork = addr.network;
  let fd = -1;
  try {
    const { host, family } = await resolveInet(addr, 'bind');
    fd = native.socket(family === 6 ? consts.AF_INET6 : consts.AF_INET, consts.SOCK_DGRAM);
    if (family === 6) native.setsockopt(fd, consts.IPPROTO_IPV6, consts.IPV6_V6ONLY, (options.ipv6Only ?? NETWORKS[network].v6only) ? 1 : 0);
    if (options.reuseAddr) native.setsockopt(fd, consts.SOL_SOCKET, consts.SO_REUSEADDR, 1);
    if (options.reusePort) native.setsockopt(fd, consts.SOL_SOCKET, consts.SO_REUSEPORT, 1);
    native.bind(fd, native.inetSockaddr(host, addr.port, family === 6));
    return open(fd, network, family === 6, options);
  } catch (err) {
    if (fd >= 0) native.close(fd);
    throw wrap('bind', network, addr, err);
  }
}

/** The datagram socket over a bound fd (made here, or inherited); `v6`: an AF_INET6 socket. */
function open(fd: number, network: InetNetwork, v6: boolean, options: BindOptions): ServableDatagramSocket {
  const localAddr = nameOf(fd, network)!;
  return new DatagramSocketImpl({
    network, localAddr, recvQueue: options.recvQueue,
    open: (events) => new NativeDatagramHandle(fd, network, v6, options.maxDatagram, events, localAddr),
  });
}

/**
 * UDP over IPv4 and IPv6 on the addon's batched datagram socket (the same one unixgram uses): the family comes
 * from the address or its pin, host names are resolved before bind.
 */
export const udp: DatagramAdapter = {
  bind: (addr, options) => bind(addr as InetAddress, options),
  // An IPv6 socket's own address is an IPv6 one (v4-mapped included).
  adopt: async (fd, addr, options) => open(fd, addr.network as InetNetwork, (addr as InetAddress).host.includes(':'), options),
};
