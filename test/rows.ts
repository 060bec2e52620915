// The transport rows every suite runs over, built from the network table (src/core/networks.ts): a network added
// there is a row here, with no other test file to touch. Suites pick the rows they need with rowsWhere().
import { NETWORKS, networksWhere, type Network } from '../src/index.js';
import { abstractName, platformHas, sockPath } from './helpers.js';

export interface Row {
  /** The network, with `-abstract` for a unix row on an abstract name. */
  name: string;
  network: Network;
  shape: 'stream' | 'datagram';
  /** A unix network (a path or an abstract name); else host and port. */
  unix: boolean;
  /** On a Linux abstract name rather than a path. */
  abstract: boolean;
  /** 4 or 6 when the network pins the IP family (its loopback is then that family's), else 0. */
  ip: 0 | 4 | 6;
  /** Reads keep the sender's boundaries (datagrams, seqpacket). */
  messages: boolean;
  /** The socket type name the kernel reports (SO_TYPE). */
  type: string;
  /** Where a server listens or binds: port 0 on loopback, or a fresh path or name. */
  at(): string;
  /** Where a datagram client binds: port 0 of the same family, or an autobound unixgram. */
  clientAt?: string;
  /** A loopback the machine may lack. */
  needs?: 'ipv6';
}

function rowsOf(network: Network): Row[] {
  const n = NETWORKS[network];
  const base = { network, shape: n.shape, unix: n.family === 'unix', ip: n.pinned, messages: n.messages, type: n.type };
  if (n.family === 'unix') {
    const clientAt = n.shape === 'datagram' ? `${network}:` : undefined;
    return [
      { ...base, name: network, abstract: false, at: () => `${network}://${sockPath()}`, clientAt },
      { ...base, name: `${network}-abstract`, abstract: true, at: () => `${network}:@${abstractName()}`, clientAt },
    ];
  }
  const host = n.pinned === 6 ? '[::1]' : '127.0.0.1';
  return [{
    ...base, name: network, abstract: false, at: () => `${network}://${host}:0`,
    clientAt: n.shape === 'datagram' ? `${network}://${host}:0` : undefined, ...(n.pinned === 6 && { needs: 'ipv6' as const }),
  }];
}

/** Every row: each inet network on loopback, each unix network on a path and on an abstract name. */
export const ALL_ROWS: readonly Row[] = networksWhere(() => true).flatMap(rowsOf);

/** The rows `match` picks that this machine can run (IPv6 rows need an IPv6 loopback). */
export const rowsWhere = (match: (row: Row) => boolean): Row[] =>
  ALL_ROWS.filter((r) => match(r) && (!r.needs || platformHas(r.needs)));
