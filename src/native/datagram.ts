import { DEFAULT_PEER_BYTES, DEFAULT_SERVER_BYTES, PEER_SILENCE_MS } from '../core/budget.js';
import type { Address, Network } from '../core/address.js';
import type { DatagramEvents, DatagramHandle, SendOutcome } from '../core/datagram.js';
import { rowOf } from '../core/networks.js';
import type { BindOptions, OptionName, OptionValue, PeerCredentials } from '../core/types.js';
import { consts, decodeAddress, encodeAddress, errnoError, native, openHandle, type Handle } from './index.js';
import { Control } from './options.js';

const NO_FDS: number[] = [];
Object.freeze(NO_FDS);
/** The addon's send results by number (filled once the addon is loaded). */
const OUTCOMES: SendOutcome[] = [];

/**
 * A datagram socket of the addon (udp, udp4, udp6, unixgram): it receives in recvmmsg batches and sends what a
 * batch's handlers answer in one sendmmsg (on UDP, runs to one peer as GSO). It encodes each destination once
 * per address object, and decodes each sender once, when it changes.
 */
export class NativeDatagramHandle implements DatagramHandle {
  private h: Handle;
  private control: Control;
  private closed = false;
  /** The sender of the last datagram: the addon names a sender only when it changes. */
  private lastFrom: Address | null = null;
  /** The credentials of the last datagram that carried them: one object while the sender stays the same. */
  private lastCredentials: PeerCredentials | undefined;
  /** Each destination's sockaddr, encoded once per address object. */
  private encoded = new WeakMap<Address, Buffer>();

  /**
   * Takes over `fd` (bound, and connected if asked); `v6`: an IPv6 socket, where IPv4 destinations go out
   * v4-mapped. On failure (ENOMEM) the fd stays the caller's.
   */
  constructor(private readonly fdNumber: number, private network: Network, private v6: boolean, maxDatagram: number | undefined,
    private events: DatagramEvents, localAddr: Address) {
    if (OUTCOMES.length === 0) {
      OUTCOMES[consts.SENT] = 'sent';
      OUTCOMES[consts.QUEUED] = 'queued';
      OUTCOMES[consts.DROPPED] = 'dropped';
    }
    this.control = new Control(network, () => this.fd, () => localAddr);
    this.h = openHandle(fdNumber, consts.MODE_DGRAM, maxDatagram ?? rowOf(network).maxMessage, {
      datagrams: (n, data, meta, fds) => this.onBatch(n, data, meta, fds),
      sent: (count, codes) => this.events.sent(count, codes && ((i) => {
        const code = codes.readInt32LE(i * 4);
        return code ? errnoError(code, 'sendmsg') : undefined;
      })),
      dropped: (count) => this.events.dropped(count),
      error: (errno) => this.events.error(errnoError(errno, 'recvmmsg')),
    });
  }

  get fd(): number {
    return this.closed ? -1 : this.fdNumber;
  }

  /** Unconnected unixgram: the bounds of what is held for receivers that are full (see PEER_BACKLOG_BYTES in the addon). */
  withBacklog(o: BindOptions): this {
    native.backlog(this.h, o.peerBytes ?? DEFAULT_PEER_BYTES, o.serverBytes ?? DEFAULT_SERVER_BYTES, o.peerSilence ?? PEER_SILENCE_MS);
    return this;
  }

  private onBatch(n: number, data: Buffer, meta: Buffer, fdLists: (number[] | undefined)[] | undefined): void {
    const stride = consts.META_STRIDE;
    let off = 0;
    for (let i = 0, m = 0; i < n; i++, m += stride) {
      const len = meta.readUInt32LE(m);
      const alen = meta.readUInt16LE(m + 8);
      if (alen === 0xffff) this.lastFrom = null;
      else if (alen !== 0) this.lastFrom = this.remember(meta, m + consts.META_ADDR, alen);
      const flags = meta[m + 10]!;
      const chunk = data.subarray(off, off + len);
      off += len;
      const credentials = (flags & consts.META_CREDS) !== 0 ? this.credentials(meta, m + consts.META_CRED) : undefined;
      this.events.datagram(chunk, this.lastFrom, (flags & 1) !== 0, fdLists?.[i] ?? NO_FDS, credentials);
    }
  }

  /**
   * The credentials at `o` (struct ucred), as the same object as last time when they have not changed. Pid 0 is
   * a datagram the kernel recorded no sender for (sent before SO_PASSCRED was set on either end): unknown, not
   * the uid 65534 it reads as.
   */
  private credentials(meta: Buffer, o: number): PeerCredentials | undefined {
    const pid = meta.readInt32LE(o);
    if (pid === 0) return undefined;
    const uid = meta.readUInt32LE(o + 4);
    const gid = meta.readUInt32LE(o + 8);
    const last = this.lastCredentials;
    if (last?.pid === pid && last.uid === uid && last.gid === gid) return last;
    return (this.lastCredentials = Object.freeze({ pid, uid, gid }));
  }

  /** Decodes a sender once and keeps its sockaddr, so that answering it costs no encoding. */
  private remember(meta: Buffer, o: number, len: number): Address | null {
    const from = decodeAddress(meta, o, len, this.network);
    if (from) this.encoded.set(from, Buffer.from(meta.subarray(o, o + len)));
    return from;
  }

  private sockaddr(to: Address): Buffer {
    let sa = this.encoded.get(to);
    if (!sa) {
      sa = encodeAddress(to, this.v6);
      this.encoded.set(to, sa);
    }
    return sa;
  }

  read(on: boolean): void {
    if (!this.closed) native.read(this.h, on);
  }

  send(data: Uint8Array, to: Address | null, fds: readonly number[] | null): SendOutcome {
    const r = native.send(this.h, data, to && this.sockaddr(to), fds);
    if (r < 0) throw errnoError(r, 'sendmsg');
    return OUTCOMES[r]!;
  }

  connect(to: Address): void {
    native.connect(this.fdNumber, this.sockaddr(to));
  }

  getOption(name: OptionName): Promise<OptionValue> {
    return this.control.getOption(name);
  }

  setOption(name: OptionName, value: OptionValue): Promise<void> {
    return this.control.setOption(name, value);
  }

  closeFds(fds: readonly number[]): void {
    for (const fd of fds) native.close(fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.hclose(this.h);
  }
}
