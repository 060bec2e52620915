// The transports every channel suite runs over (channel.test.ts, limits.test.ts): rows of test/rows.ts, one per
// kind of framing and identity (the pinned and abstract variants add nothing a channel sees), plus TLS over tcp.
import { rowsWhere, type Row as TransportRow } from './rows.js';

export interface Row extends TransportRow {
  datagram: boolean;
  tls?: boolean;
}

const CHANNEL_ROWS = ['tcp', 'tcp6', 'unix', 'unix-abstract', 'unixpacket', 'udp', 'unixgram'];

export const ROWS: Row[] = rowsWhere((r) => CHANNEL_ROWS.includes(r.name)).flatMap((r) => {
  const row = { ...r, datagram: r.shape === 'datagram' };
  return r.name === 'tcp' ? [row, { ...row, name: 'tls', tls: true }] : [row];
});
