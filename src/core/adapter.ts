/**
 * What the adapters (src/tcp, src/udp, src/unix) give the dispatch table of src/api.ts, and what they are given:
 * interfaces internal to the package, not part of its public types (src/core/types.ts).
 */
import type { Address } from './address.js';
import type { Op } from './errors.js';
import type { DatagramRecorder } from './record.js';
import type {
  BindOptions, Conn, DatagramSocket, DialOptions, Listener, ListenOptions, PeerAccess, PeerCredentials,
} from './types.js';

/**
 * A stream adapter (tcp, unix, unixpacket). Errors come out as NetErrors. An inherited socket (systemd, inetd) is
 * never given to dial or listen: src/api.ts decides that once, and hands its descriptor to `adopt` or
 * `adoptListener` with the address read from it.
 */
export interface StreamAdapter {
  dial(addr: Address, options: DialOptions): Promise<Conn>;
  /** `gate`: the peer check of `options` (unix networks only). */
  listen(addr: Address, options: ListenOptions, gate?: PeerGate): Promise<Listener>;
  /** A connected socket this process was given (`addr`: its own address). */
  adopt(fd: number, addr: Address): Promise<Conn>;
  /** A listening socket this process was given; its file, if any, stays its manager's. */
  adoptListener(fd: number, addr: Address, options: ListenOptions, gate?: PeerGate): Promise<Listener>;
  /** The peer check `options` ask for on `addr` (networks whose peers have an identity: unix). */
  gate?: GateMaker;
}

/** Builds the peer check of `options` for `addr`, or undefined when everyone is admitted; EINVAL for a bad one. */
type GateMaker = (op: Op, addr: Address, options: PeerAccess) => PeerGate | undefined;

/** A datagram adapter (udp, unixgram). Errors come out as NetErrors. */
export interface DatagramAdapter {
  /** `gate`: the peer check of `options` (unixgram only). */
  bind(addr: Address, options: BindOptions, gate?: PeerGate): Promise<ServableDatagramSocket>;
  /** A bound datagram socket this process was given (`addr`: its own address). */
  adopt(fd: number, addr: Address, options: BindOptions, gate?: PeerGate): Promise<ServableDatagramSocket>;
  /** The peer check `options` ask for on `addr` (networks whose peers have an identity: unixgram). */
  gate?: GateMaker;
}

/** Takes each datagram straight from the socket, bypassing the queue (serve() does). */
export type DatagramReceiver = (data: Buffer, from: Address | null, credentials: PeerCredentials | undefined) => void;

/** The check of `PeerAccess` an adapter runs on what arrives (built by src/unix/peers.ts). */
export interface PeerGate {
  readonly refused: number;
  /** Whether the peer of this accepted unix connection may be handed over. */
  admitsConn(conn: Conn): boolean;
  /** Whether a datagram from this sender may be handed over. */
  admitsDatagram(credentials: PeerCredentials | undefined, from: Address | null): boolean;
}

/** A datagram socket serve() can feed from directly, holding its reading while its handlers are behind. */
export interface ServableDatagramSocket extends DatagramSocket {
  onDatagram: DatagramReceiver | undefined;
  /** Told every datagram received and sent (see core/record.ts). */
  recorder: DatagramRecorder | undefined;
  pause(): void;
  resume(): void;
}
