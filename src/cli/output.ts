import { formatAddress, oneLine, type Address, type Peer } from '../index.js';

export { oneLine };

export interface OutputOptions {
  /** Newline-delimited JSON events on stdout instead of the human format. */
  json?: boolean;
  /** A hex + text dump of all traffic on stderr. */
  verbose?: boolean;
}

/** One notice line on stderr, `socktool: …`, escaped: one line stays one line. */
export const notice = (text: string): void => void process.stderr.write(`socktool: ${oneLine(text)}\n`);

/** An address as the CLI prints it; an unnamed unix peer has none. */
export const addrText = (a: Address | null | undefined): string | null => (a ? formatAddress(a) : null);

/** Refusals told one by one, at most this many a second; the rest are summed up once that second is over. */
const REFUSALS_PER_SECOND = 5;

/** Writes to stdout and waits while the pipe is full, so a slow reader slows the socket down instead of memory. */
export function writeOut(data: Uint8Array | string): Promise<void> {
  if (process.stdout.write(data)) return Promise.resolve();
  return new Promise((resolve) => process.stdout.once('drain', resolve));
}

/**
 * Everything a command tells its user, in one place: events (JSON lines, or notices on stderr with -v),
 * received payloads (raw bytes on stdout, or `data`/`datagram` events), and the -v traffic dump.
 */
export class Output {
  readonly json: boolean;
  readonly verbose: boolean;

  /** The current second of refusals: when it began, how many were told, how many held back. */
  private refusals = { since: 0, told: 0, held: 0 };

  constructor(o: OutputOptions) {
    this.json = o.json ?? false;
    this.verbose = o.verbose ?? false;
  }

  /**
   * A peer the allow list refused: a notice on stderr and a `refused` event, rate-limited so that a flood of
   * refused peers costs a line a second, not a line each.
   */
  refused(peer: Peer, reason: string): void {
    const r = this.refusals;
    const now = Date.now();
    if (now - r.since >= 1000) {
      this.refusals = { since: now, told: 0, held: 0 };
      return this.refused(peer, reason);
    }
    if (r.told >= REFUSALS_PER_SECOND) {
      if (r.held++ === 0) setTimeout(() => this.heldBack(r), r.since + 1000 - now).unref();
      return;
    }
    r.told++;
    const who = `pid ${peer.pid} uid ${peer.uid} gid ${peer.gid}`;
    this.event('refused', { peer: addrText(peer.addr), pid: peer.pid, uid: peer.uid, gid: peer.gid, reason });
    notice(`refused ${who}${peer.addr ? ` (${formatAddress(peer.addr)})` : ''}: ${reason}`);
  }

  private heldBack(r: { held: number }): void {
    this.event('refused', { more: r.held });
    notice(`refused ${r.held} more peer${r.held === 1 ? '' : 's'} in that second`);
  }

  /** A JSON event on stdout; in the human format, `human` goes to stderr when verbose. */
  event(event: string, fields: Record<string, unknown>, human?: string): void {
    if (this.json) process.stdout.write(`${JSON.stringify({ event, time: new Date().toISOString(), ...fields })}\n`);
    else if (human !== undefined && this.verbose) notice(human);
  }

  /**
   * Servers' first line, which scripts wait for: on stderr (stdout is the peers' data alone, as with `nc -v`),
   * or as the first JSON event on stdout.
   */
  listening(addr: Address): void {
    if (this.json) this.event('listening', { address: formatAddress(addr) });
    else process.stderr.write(`listening on ${oneLine(formatAddress(addr))}\n`);
  }

  /**
   * Something that arrived from `peer`: dumped with -v; as a JSON event carrying the bytes in base64; or in the
   * human format, with `print`, its bytes as they are on stdout.
   */
  received(kind: 'data' | 'datagram', peer: Address | null, data: Buffer, print = true): Promise<void> {
    this.dump('<', peer, data);
    if (this.json) {
      const who = kind === 'datagram' ? { from: addrText(peer) } : { peer: addrText(peer) };
      this.event(kind, { ...who, size: data.length, base64: data.toString('base64') });
    } else if (print) return writeOut(data);
    return Promise.resolve();
  }

  /** The -v dump: `<` received from, `>` sent to `peer`. */
  dump(direction: '<' | '>', peer: Address | null, data: Uint8Array): void {
    if (this.verbose) process.stderr.write(hexdump(direction, oneLine(addrText(peer) ?? '(unnamed)'), data));
  }

  /** A failure as a JSON `error` event (the one stderr line is main's). */
  error(code: string, message: string): void {
    if (this.json) this.event('error', { code, message });
  }
}

/** socat -x style: a header line with direction, peer and size, then 16 bytes a line as hex and text. */
function hexdump(direction: '<' | '>', peer: string, data: Uint8Array): string {
  const lines = [`${direction} ${new Date().toISOString()} ${peer} ${data.length} bytes`];
  for (let at = 0; at < data.length; at += 16) {
    const row = data.subarray(at, at + 16);
    let hex = '';
    let text = '';
    for (const b of row) {
      hex += `${b.toString(16).padStart(2, '0')} `;
      text += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
    }
    lines.push(`  ${at.toString(16).padStart(6, '0')}  ${hex.padEnd(48)} ${text}`);
  }
  return `${lines.join('\n')}\n`;
}
