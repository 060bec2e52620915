import type { ListenOptions as NetListenOptions, Server, Socket } from 'node:net';

/** listen({ fd }) is documented by Node but missing from its types. */
type ListenOptionsWithFd = NetListenOptions & { fd: number };
import type { InetAddress, InetNetwork } from '../core/address.js';
import { wrap } from '../core/errors.js';
import { NETWORKS, withIpFamily } from '../core/networks.js';
import { resolveInet } from '../core/resolve.js';
import { connectSocket, createStreamServer, socketOnFd, startListening, StreamConn, StreamListener } from '../core/stream.js';
import type { Conn, DialOptions, Listener, ListenOptions } from '../core/types.js';
import type { StreamAdapter } from '../core/adapter.js';
import { fdOfNode, consts, native } from '../native/index.js';
import { Control } from '../native/options.js';

/** The kernel's view of one end of a TCP socket, in the caller's network name. */
const sideOf = (network: InetNetwork, host: string | undefined, port: number | undefined): InetAddress =>
  ({ network, host: host ?? '', port: port ?? 0 });

function wrapSocket(network: InetNetwork, s: Socket): Conn {
  const remote = sideOf(network, s.remoteAddress, s.remotePort);
  return new StreamConn(s, network, sideOf(network, s.localAddress, s.localPort), remote,
    { control: new Control(network, () => fdOfNode(s), () => remote) });
}

/**
 * A TCP socket connected to itself: the kernel picked the destination port as the source port while nobody
 * listened there, and the two ends met in a simultaneous open. Nobody is on the other end.
 */
const selfConnected = (s: Socket): boolean => s.localPort === s.remotePort && s.localAddress === s.remoteAddress;

/** Tries for a self-connect before it counts as refused (Go's net does the same). */
const SELF_CONNECT_TRIES = 3;

/** net.connect's localAddress/localPort for a source address, resolved in the destination's family. */
async function sourceOf(local: InetAddress | undefined, family: number) {
  if (!local) return {};
  const wildcard = local.host === '' || local.host === '0.0.0.0' || local.host === '::';
  const { host } = wildcard ? { host: family === 6 ? '::' : '0.0.0.0' }
    : await resolveInet({ ...local, network: withIpFamily(local.network, family === 6 ? 6 : 4) as InetNetwork }, 'bind');
  return { localAddress: host, ...(local.port !== 0 && { localPort: local.port }) };
}

async function dial(addr: InetAddress, options: DialOptions): Promise<Conn> {
  try {
    const { host, family } = await resolveInet(addr, 'connect');
    const source = await sourceOf(options.local as InetAddress | undefined, family);
    for (let tries = 1; ; tries++) {
      const socket = await connectSocket({ host, port: addr.port, family, ...source }, options.signal);
      if (!selfConnected(socket)) return wrapSocket(addr.network, socket);
      socket.destroy();
      if (tries === SELF_CONNECT_TRIES) {
        throw Object.assign(new Error('connected to itself: nobody listens'), { code: 'ECONNREFUSED' });
      }
    }
  } catch (err) {
    throw wrap('dial', addr.network, addr, err);
  }
}

async function listen(addr: InetAddress, options: ListenOptions): Promise<Listener> {
  const server = createStreamServer();
  try {
    const { host, family } = await resolveInet(addr, 'bind');
    const ipv6Only = family === 6 && (options.ipv6Only ?? NETWORKS[addr.network].v6only);
    if (options.reusePort) {
      // Node 20's listen() has no reusePort: the addon makes the socket with SO_REUSEPORT set before bind.
      const fd = native.socket(family === 6 ? consts.AF_INET6 : consts.AF_INET, consts.SOCK_STREAM);
      try {
        native.setsockopt(fd, consts.SOL_SOCKET, consts.SO_REUSEADDR, 1);
        native.setsockopt(fd, consts.SOL_SOCKET, consts.SO_REUSEPORT, 1);
        if (family === 6) native.setsockopt(fd, consts.IPPROTO_IPV6, consts.IPV6_V6ONLY, ipv6Only ? 1 : 0);
        native.bind(fd, native.inetSockaddr(host, addr.port, family === 6));
      } catch (err) {
        native.close(fd);
        throw err;
      }
      await startListening(server, { fd, backlog: options.backlog } as ListenOptionsWithFd);
    } else {
      await startListening(server, { host, port: addr.port, ipv6Only, backlog: options.backlog });
    }
  } catch (err) {
    server.close();
    throw wrap('listen', addr.network, addr, err);
  }
  return listener(server, addr.network, options);
}

async function adoptListener(fd: number, addr: InetAddress, options: ListenOptions): Promise<Listener> {
  const server = createStreamServer();
  try {
    await startListening(server, { fd, backlog: options.backlog } as ListenOptionsWithFd);
  } catch (err) {
    server.close();
    throw wrap('listen', addr.network, addr, err);
  }
  return listener(server, addr.network, options);
}

/** The Listener over a listening server, named as the kernel names its socket. */
function listener(server: Server, network: InetNetwork, options: ListenOptions): Listener {
  const bound = server.address() as { address: string; port: number };
  const local = sideOf(network, bound.address, bound.port);
  return new StreamListener(server, {
    network,
    addr: local,
    wrapConn: (s) => wrapSocket(network, s as Socket),
    control: new Control(network, () => fdOfNode(server), () => local),
    acceptQueue: options.acceptQueue,
  });
}

/** TCP over IPv4 and IPv6 (`tcp4`/`tcp6` pin the family; `tcp6` on `::` is IPv6-only). */
export const tcp: StreamAdapter = {
  dial: (addr, options) => dial(addr as InetAddress, options),
  listen: (addr, options) => listen(addr as InetAddress, options),
  adopt: async (fd, addr) => wrapSocket(addr.network as InetNetwork, socketOnFd(fd)),
  adoptListener: (fd, addr, options) => adoptListener(fd, addr as InetAddress, options),
};
