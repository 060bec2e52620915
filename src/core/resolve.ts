import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { pinnedFamily, type InetAddress } from './address.js';
import { NetError, wrap } from './errors.js';

export interface Resolved {
  host: string;
  family: 4 | 6;
}

let ipv6: boolean | undefined;
/** Whether this machine has IPv6 at all (it can be disabled by sysctl, leaving no inet6 address). */
export function hasIPv6(): boolean {
  ipv6 ??= Object.values(networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6'));
  return ipv6;
}

/**
 * Turns an address's host into an IP literal and family, as a bind or connect needs it: an empty host is every
 * interface to bind (dual-stack `::` unless a family is pinned) and loopback to connect to (127.0.0.1 unless
 * pinned to 6); a name is looked up,
 * honouring a tcp4/udp6-style pin. Rejects with the resolver's error (ENOTFOUND …) for the adapter to wrap.
 */
export async function resolveInet(a: InetAddress, purpose: 'bind' | 'connect'): Promise<Resolved> {
  const pin = pinnedFamily(a.network);
  const h = a.host.replace(/%.*$/, '');
  if (a.host === '') {
    if (purpose === 'connect') return pin === 6 ? { host: '::1', family: 6 } : { host: '127.0.0.1', family: 4 };
    return pin === 4 || (pin === 0 && !hasIPv6()) ? { host: '0.0.0.0', family: 4 } : { host: '::', family: 6 };
  }
  const literal = isIP(h);
  if (literal === 4 || literal === 6) return { host: a.host, family: literal };
  const found = await lookup(a.host, { family: pin });
  return { host: found.address, family: found.family === 6 ? 6 : 4 };
}

/**
 * Every address the system resolver (getaddrinfo) gives for `host`, in its order; `family` keeps one family.
 *
 * @example
 * await lookupHost('localhost')  // [{ host: '::1', family: 6 }, { host: '127.0.0.1', family: 4 }]
 */
export async function lookupHost(host: string, options: { family?: 0 | 4 | 6 } = {}): Promise<Resolved[]> {
  try {
    const found = await lookup(host, { all: true, family: options.family ?? 0 });
    return found.map((f) => ({ host: f.address, family: f.family === 6 ? 6 : 4 }));
  } catch (err) {
    throw new NetError({ op: 'lookup', code: wrap('lookup', undefined, undefined, err).code, input: host, cause: err });
  }
}
