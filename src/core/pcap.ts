// Traffic recorded as pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html), for Wireshark and
// tshark. Sockets have no packets of their own (unix ones none at all), so each conversation is written as one
// would have looked on an IPv4 wire: a stream as a TCP connection (handshake, sequence numbers, FIN or RST as it
// ended), datagrams as UDP, between stable synthetic addresses (10.0.0.0/8, one client address per conversation).
// The real addresses (paths, abstract names, ports, the peer's pid and uid) go in the comment of its first packet.
// Written as it goes, each packet in one write(2): readable while running, whole after a signal.
import { closeSync, openSync, writeSync } from 'node:fs';

/** Where a recording stops growing: past `max` bytes, later packets are not written (counted in `skipped`). */
export interface PcapOptions {
  /** Default 1 GiB. */
  max?: number;
  /** Describes the one interface (shown by Wireshark's capture file properties). */
  description?: string;
}

export const PCAP_MAX = 1 << 30;

const LINKTYPE_RAW = 101; // raw IPv4/IPv6, no link-layer header
const MAX_SEGMENT = 65535 - 20 - 20; // an IPv4 total length is 16 bits
const MAX_UDP = 65535 - 20 - 8;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;

const pad4 = (n: number) => (n + 3) & ~3;

/** An option (code, value) as pcapng writes it: padded to 4 bytes. */
function option(code: number, value: Buffer): Buffer {
  const b = Buffer.alloc(4 + pad4(value.length));
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}

const END_OF_OPTIONS = Buffer.alloc(4);

/** A block: type, total length, body, options, total length again. */
function block(type: number, body: Buffer, options: Buffer[] = []): Buffer {
  const opts = options.length ? Buffer.concat([...options, END_OF_OPTIONS]) : Buffer.alloc(0);
  const total = 12 + pad4(body.length) + opts.length;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(total, 4);
  body.copy(b, 8);
  opts.copy(b, 8 + pad4(body.length));
  b.writeUInt32LE(total, total - 4);
  return b;
}

/** The internet checksum (RFC 1071) of `parts`, each an even length but the last. */
function checksum(...parts: Buffer[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i + 1 < p.length; i += 2) sum += p.readUInt16BE(i);
    if (p.length & 1) sum += p[p.length - 1]! << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4(src: number, dst: number, protocol: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(0x4000, 6); // don't fragment
  h[8] = 64;
  h[9] = protocol;
  h.writeUInt32BE(src, 12);
  h.writeUInt32BE(dst, 16);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

function pseudoHeader(src: number, dst: number, protocol: number, length: number): Buffer {
  const p = Buffer.alloc(12);
  p.writeUInt32BE(src, 0);
  p.writeUInt32BE(dst, 4);
  p[9] = protocol;
  p.writeUInt16BE(length, 10);
  return p;
}

/** One endpoint on the synthetic wire. */
interface Wire {
  ip: number;
  port: number;
}

/** A recording: one file, one interface, many conversations. */
export class PcapWriter {
  private fd: number | undefined;
  private written = 0;
  private conversations = 0;
  private readonly max: number;
  /** Packets not written because the file reached its bound. */
  skipped = 0;
  /** Called once, when the bound is first reached. */
  onFull: (() => void) | undefined;
  /** The wall clock in ns at `origin` (hrtime), so that timestamps are both absolute and monotonic. */
  private readonly epochNs = BigInt(Date.now()) * 1_000_000n;
  private readonly origin = process.hrtime.bigint();

  constructor(readonly path: string, options: PcapOptions = {}) {
    this.max = options.max ?? PCAP_MAX;
    this.fd = openSync(path, 'w', 0o600);
    const shb = Buffer.alloc(16);
    shb.writeUInt32LE(0x1a2b3c4d, 0);
    shb.writeUInt16LE(1, 4);
    shb.writeBigInt64LE(-1n, 8); // section length: not given
    this.write(block(0x0a0d0d0a, shb, [option(4, Buffer.from('socktool'))]), true);
    const idb = Buffer.alloc(8);
    idb.writeUInt16LE(LINKTYPE_RAW, 0);
    const tsresol = Buffer.from([9]); // nanoseconds
    this.write(block(1, idb, [option(2, Buffer.from('socktool')), option(9, tsresol),
      ...(options.description ? [option(3, Buffer.from(options.description))] : [])]), true);
  }

  /**
   * A new conversation between synthetic addresses: the client 10.0.x.y (one per conversation), the server
   * 10.255.255.254 on `serverPort` (the real port when one side has one, so that dissectors find their protocol).
   * `comment` names the real ends; it goes on the conversation's first packet.
   */
  conversation(kind: 'tcp' | 'udp', serverPort: number, comment: string): Conversation {
    const n = ++this.conversations;
    const client: Wire = { ip: (10 << 24) | (n % 0xfffffe) + 1, port: 1024 + (n % 64000) };
    const server: Wire = { ip: (10 << 24) | 0xfffffe, port: serverPort || 9 };
    return kind === 'tcp' ? new TcpConversation(this, client, server, comment) : new UdpConversation(this, client, server, comment);
  }

  /** Writes one packet (raw IP) with the time now; `comment` as its opt_comment. */
  packet(ip: Buffer, comment?: string): void {
    const ns = this.epochNs + (process.hrtime.bigint() - this.origin);
    const head = Buffer.alloc(20);
    head.writeUInt32LE(0, 0); // interface 0
    head.writeUInt32LE(Number(ns >> 32n), 4);
    head.writeUInt32LE(Number(ns & 0xffffffffn), 8);
    head.writeUInt32LE(ip.length, 12);
    head.writeUInt32LE(ip.length, 16);
    this.write(block(6, Buffer.concat([head, ip]), comment ? [option(1, Buffer.from(comment))] : []));
  }

  private write(b: Buffer, header = false): void {
    if (this.fd === undefined) return;
    if (!header && this.written + b.length > this.max) {
      if (this.skipped++ === 0) this.onFull?.();
      return;
    }
    writeSync(this.fd, b);
    this.written += b.length;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** What a recorded conversation is told: bytes each way, each side's end, a reset. */
export interface Conversation {
  data(fromClient: boolean, bytes: Buffer): void;
  /** That side ended (a stream's FIN; nothing for datagrams). */
  end(fromClient: boolean): void;
  /** The conversation was cut (a stream's RST). */
  reset(fromClient: boolean): void;
}

class TcpConversation implements Conversation {
  private seq = [1000, 5000]; // next sequence number: client, server
  private finished = [false, false];
  private cut = false;

  constructor(private w: PcapWriter, private client: Wire, private server: Wire, comment: string) {
    this.segment(true, TCP_SYN, Buffer.alloc(0), comment);
    this.seq[0]!++;
    this.segment(false, TCP_SYN | TCP_ACK, Buffer.alloc(0));
    this.seq[1]!++;
    this.segment(true, TCP_ACK, Buffer.alloc(0));
  }

  data(fromClient: boolean, bytes: Buffer): void {
    if (this.cut) return;
    for (let at = 0; at < bytes.length; at += MAX_SEGMENT) {
      const piece = bytes.subarray(at, at + MAX_SEGMENT);
      this.segment(fromClient, TCP_PSH | TCP_ACK, piece);
      this.seq[fromClient ? 0 : 1]! += piece.length;
    }
  }

  end(fromClient: boolean): void {
    const i = fromClient ? 0 : 1;
    if (this.cut || this.finished[i]) return;
    this.finished[i] = true;
    this.segment(fromClient, TCP_FIN | TCP_ACK, Buffer.alloc(0));
    this.seq[i]!++;
  }

  reset(fromClient: boolean): void {
    if (this.cut || (this.finished[0] && this.finished[1])) return;
    this.cut = true;
    this.segment(fromClient, TCP_RST | TCP_ACK, Buffer.alloc(0));
  }

  private segment(fromClient: boolean, flags: number, payload: Buffer, comment?: string): void {
    const [src, dst] = fromClient ? [this.client, this.server] : [this.server, this.client];
    const h = Buffer.alloc(20);
    h.writeUInt16BE(src.port, 0);
    h.writeUInt16BE(dst.port, 2);
    h.writeUInt32BE(this.seq[fromClient ? 0 : 1]! >>> 0, 4);
    h.writeUInt32BE(flags & TCP_ACK ? this.seq[fromClient ? 1 : 0]! >>> 0 : 0, 8);
    h[12] = 5 << 4;
    h[13] = flags;
    h.writeUInt16BE(65535, 14);
    h.writeUInt16BE(checksum(pseudoHeader(src.ip, dst.ip, 6, 20 + payload.length), h, payload), 16);
    this.w.packet(ipv4(src.ip, dst.ip, 6, Buffer.concat([h, payload])), comment);
  }
}

class UdpConversation implements Conversation {
  private comment: string | undefined;

  constructor(private w: PcapWriter, private client: Wire, private server: Wire, comment: string) {
    this.comment = comment;
  }

  data(fromClient: boolean, bytes: Buffer): void {
    const [src, dst] = fromClient ? [this.client, this.server] : [this.server, this.client];
    // A datagram larger than UDP over IPv4 can carry (unixgram's can be) is cut, and says so.
    const payload = bytes.length > MAX_UDP ? bytes.subarray(0, MAX_UDP) : bytes;
    const note = bytes.length > MAX_UDP ? `datagram of ${bytes.length} bytes, cut to ${MAX_UDP}` : undefined;
    const h = Buffer.alloc(8);
    h.writeUInt16BE(src.port, 0);
    h.writeUInt16BE(dst.port, 2);
    h.writeUInt16BE(8 + payload.length, 4);
    h.writeUInt16BE(checksum(pseudoHeader(src.ip, dst.ip, 17, 8 + payload.length), h, payload) || 0xffff, 6);
    const comment = [this.comment, note].filter(Boolean).join('; ') || undefined;
    this.comment = undefined;
    this.w.packet(ipv4(src.ip, dst.ip, 17, Buffer.concat([h, payload])), comment);
  }

  end(): void {}

  reset(): void {}
}
