// The transports every channel suite runs over (channel.test.ts, limits.test.ts).
import { abstractName, sockPath } from './helpers.js';

export interface Row {
  name: string;
  /** Where a server listens (port 0 or a fresh name). */
  at(): string;
  unix: boolean;
  datagram: boolean;
  tls?: boolean;
  needs?: 'ipv6';
}

export const ROWS: Row[] = [
  { name: 'tcp', at: () => 'tcp://127.0.0.1:0', unix: false, datagram: false },
  { name: 'tcp6', at: () => 'tcp6://[::1]:0', unix: false, datagram: false, needs: 'ipv6' },
  { name: 'tls', at: () => 'tcp://127.0.0.1:0', unix: false, datagram: false, tls: true },
  { name: 'unix', at: () => `unix://${sockPath()}`, unix: true, datagram: false },
  { name: 'unix-abstract', at: () => `unix:@${abstractName()}`, unix: true, datagram: false },
  { name: 'unixpacket', at: () => `unixpacket://${sockPath()}`, unix: true, datagram: false },
  { name: 'udp', at: () => 'udp://127.0.0.1:0', unix: false, datagram: true },
  { name: 'unixgram', at: () => `unixgram://${sockPath()}`, unix: true, datagram: true },
];
