// Recording a socket's traffic into a pcapng file (core/pcap.ts) where it crosses the socket: a connection's bytes
// as its stream pushes what arrived and writes what leaves (so piped, iterated and written traffic alike), a
// datagram socket's as it receives and sends. Under TLS, what the application sent and got (decrypted): TLS takes the
// socket's descriptor from beneath its stream, so the records never pass through JavaScript.
import type { Duplex } from 'node:stream';
import { formatAddress, type Address } from './address.js';
import type { Conversation, PcapWriter } from './pcap.js';
import { StreamConn, WrappedListener } from './stream.js';
import type { Conn, Listener } from './types.js';

/** Datagram conversations kept per socket (one per peer); past this the longest silent is forgotten. */
const PEERS_KEPT = 4096;

/** The port a recording shows for an address: its own, or 0 (a unix one has none). */
export const portOf = (a: Address | null): number => (a && 'port' in a ? a.port : 0);
/** An address as a recording's comment names it. */
export const peerName = (a: Address | null): string => (a && !('path' in a && a.path === '') ? formatAddress(a) : 'an unnamed peer');

type Recorded = Duplex & {
  push(chunk: unknown, encoding?: BufferEncoding): boolean;
  _write(chunk: Buffer | string, encoding: BufferEncoding, cb: (err?: Error | null) => void): void;
  _writev?(chunks: { chunk: Buffer | string; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void;
};

/** A chunk as bytes: streams that do not decode strings pass them on as given. */
const bytesOf = (chunk: unknown, encoding?: BufferEncoding): Buffer =>
  Buffer.isBuffer(chunk) ? chunk : typeof chunk === 'string' ? Buffer.from(chunk, encoding) : viewOf(chunk as Uint8Array);

/** The same bytes as a Buffer, not a copy. */
const viewOf = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/**
 * Records `conn` as one TCP conversation: `dialled` when this side connected (then it is the client). A FIN each
 * way as the stream ends (or closes); an RST when it closes with an error. `note` goes in the comment (`TLS,
 * decrypted`).
 */
export function recordConn(conn: Conn, pcap: PcapWriter, dialled: boolean, note = ''): void {
  const server = dialled ? conn.remoteAddr : conn.localAddr;
  const client = dialled ? conn.localAddr : conn.remoteAddr;
  const talk = pcap.conversation('tcp', portOf(server), `${peerName(client)} -> ${peerName(server)}${note && ` (${note})`}`);
  const s = conn.stream as Recorded;
  const push = s.push;
  s.push = function (chunk: unknown, encoding?: BufferEncoding) {
    if (chunk === null) talk.end(!dialled);
    else talk.data(!dialled, bytesOf(chunk, encoding));
    return push.call(this, chunk, encoding);
  };
  const write = s._write;
  s._write = function (chunk, encoding, cb) {
    talk.data(dialled, bytesOf(chunk, encoding));
    write.call(this, chunk, encoding, cb);
  };
  const writev = s._writev;
  if (writev) {
    s._writev = function (chunks, cb) {
      for (const { chunk, encoding } of chunks) talk.data(dialled, bytesOf(chunk, encoding));
      writev.call(this, chunks, cb);
    };
  }
  // Seqpacket messages go straight to the socket, past the Duplex.
  if (conn instanceof StreamConn) conn.sentMessage = (data) => talk.data(dialled, bytesOf(data));
  s.once('finish', () => talk.end(dialled));
  // Closed without an error: an end (what a peer sees of close(2)); with one, a reset.
  s.once('close', (hadError: boolean) => (hadError ? talk.reset(dialled) : talk.end(dialled)));
}

/** What a datagram socket tells its recorder: each datagram in or out, with its peer. */
export type DatagramRecorder = (incoming: boolean, data: Uint8Array, peer: Address | null) => void;

/**
 * A recorder of one datagram socket: a UDP conversation per peer. `client`: this socket is the client (it was
 * bound to reach a peer), else its peers are.
 */
export function datagramRecorder(pcap: PcapWriter, local: Address, client: boolean): DatagramRecorder {
  const talks = new Map<string, Conversation>();
  return (incoming, data, peer) => {
    const key = peer ? formatAddress(peer) : '';
    let talk = talks.get(key);
    if (talk) talks.delete(key); // most recently heard last
    else {
      if (talks.size >= PEERS_KEPT) talks.delete(talks.keys().next().value!);
      const [from, to] = client ? [local, peer] : [peer, local];
      talk = pcap.conversation('udp', portOf(to), `${peerName(from)} -> ${peerName(to)}`);
    }
    talks.set(key, talk);
    talk.data(incoming !== client, viewOf(data));
  };
}

/**
 * A listener whose connections are recorded as they are handed out, by accept() or by iteration alike (as
 * TlsListener wraps one). A connection reads nothing before it is handed out, so nothing it carries is missed.
 */
export class RecordedListener extends WrappedListener {
  constructor(inner: Listener, private pcap: PcapWriter) {
    super(inner);
  }

  protected wrap(conn: Conn): Conn {
    recordConn(conn, this.pcap, false);
    return conn;
  }
}
