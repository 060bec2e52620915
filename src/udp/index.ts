import * as dgram from 'node:dgram';
import type { InetAddress, InetNetwork } from '../core/address.js';
import { DatagramSocketImpl, type DatagramPort } from '../core/datagram.js';
import { wrap } from '../core/errors.js';
import { resolveInet } from '../core/resolve.js';
import type { BindOptions, DatagramAdapter } from '../core/types.js';

function open(sock: dgram.Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: host, port }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

function portOf(sock: dgram.Socket): DatagramPort {
  return {
    // dgram resolves a host name itself; an IP literal (the usual case) skips the lookup.
    send: (data, to, done) => (to === null ? sock.send(data, done) : sock.send(data, (to as InetAddress).port, (to as InetAddress).host, done)),
    connect: async (to) => {
      const { host } = await resolveInet(to as InetAddress, 'connect');
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.connect((to as InetAddress).port, host, () => {
          sock.off('error', reject);
          resolve();
        });
      });
    },
    close: (done) => sock.close(done),
  };
}

async function bind(addr: InetAddress, options: BindOptions): Promise<DatagramSocketImpl> {
  const network: InetNetwork = addr.network;
  let sock: dgram.Socket | undefined;
  try {
    const { host, family } = await resolveInet(addr, 'bind');
    const ipv6Only = family === 6 && (options.ipv6Only ?? network === 'udp6');
    sock = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only, reuseAddr: options.reuseAddr });
    await open(sock, host, addr.port);
  } catch (err) {
    try { sock?.close(); } catch { /* never bound: nothing to release */ }
    throw wrap('bind', network, addr, err);
  }
  const local = sock.address();
  const impl = new DatagramSocketImpl(network, { network, host: local.address, port: local.port }, portOf(sock), options.queue);
  sock.on('message', (data, rinfo) => impl.deliver(data, { network, host: rinfo.address, port: rinfo.port }));
  sock.on('error', (err) => impl.fail(err));
  return impl;
}

/** UDP over IPv4 and IPv6; the family comes from the address (or its pin), host names resolved before bind. */
export const udp: DatagramAdapter = {
  shape: 'datagram',
  bind: (addr, options) => bind(addr as InetAddress, options),
};
