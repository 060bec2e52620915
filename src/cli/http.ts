import { inetAddress, unixAddress, type Address, type Conn } from '../index.js';
import { dialFor } from './client.js';
import { Idle, type CommonOptions } from './common.js';
import { CliError, UsageError } from './exit.js';
import { writeOut, type Output } from './output.js';

export interface HttpOptions extends CommonOptions {
  include?: boolean;
  unix?: string;
  /** As curl --fail: an HTTP error status prints no body and exits 7. */
  fail?: boolean;
}

interface Request {
  addr: Address;
  tls: boolean;
  /** The Host header. */
  host: string;
  path: string;
}

/** `http://host[:port]/path`, `https://…`, or `unix:///path.sock:/request/path`; `--unix` dials a socket file instead. */
function parseUrl(url: string, o: HttpOptions): Request {
  const unix = /^unix:\/\/(\/[^:]+)(?::(\/.*))?$/.exec(url);
  if (unix) return { addr: unixAddress('unix', unix[1]!), tls: o.tls ?? false, host: 'localhost', path: unix[2] ?? '/' };
  const m = /^(https?):\/\/(\[[0-9a-fA-F:.]+\]|[^/:?#[\]@]+)(?::(\d{1,5}))?([/?][^#]*)?(#.*)?$/.exec(url);
  if (!m) throw new UsageError(`bad URL ${JSON.stringify(url)}: expected http://host[:port]/path, https://… or unix:///path.sock:/path`);
  const tls = m[1] === 'https' || (o.tls ?? false);
  const port = m[3] === undefined ? (m[1] === 'https' ? 443 : 80) : Number(m[3]);
  if (port < 1 || port > 65535) throw new UsageError(`bad URL ${JSON.stringify(url)}: port ${port} out of range`);
  const defaultPort = port === (m[1] === 'https' ? 443 : 80);
  const host = m[2]!;
  const path = m[4] === undefined ? '/' : m[4].startsWith('?') ? `/${m[4]}` : m[4];
  const addr = o.unix ? unixAddress('unix', o.unix) : inetAddress('tcp', host.replace(/^\[|\]$/g, ''), port);
  return { addr, tls, host: defaultPort ? host : `${host}:${port}`, path };
}

/** Reads a response off a connection: as much as needed, with the bytes read ahead kept for the next call. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private idle: Idle;

  constructor(private conn: Conn, timeout: number | undefined) {
    this.idle = new Idle(timeout);
  }

  /** Reads one more chunk; false at EOF. */
  private async more(): Promise<boolean> {
    const chunk = await this.conn.read({ signal: this.idle.signal });
    if (chunk === null) return false;
    this.idle.touch();
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }

  /** Everything up to and including `sep`; at most `limit` bytes. */
  async until(sep: string, limit: number): Promise<Buffer> {
    for (;;) {
      const at = this.buf.indexOf(sep);
      if (at >= 0) return this.take(at + sep.length);
      if (this.buf.length > limit) throw new CliError(`http: response header line longer than ${limit} bytes`);
      if (!(await this.more())) throw new CliError('http: connection closed in the middle of the response head');
    }
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Hands `n` bytes (all until EOF for Infinity) to `sink` as they come, never holding more than a chunk. */
  async body(n: number, sink: (data: Buffer) => Promise<void>): Promise<void> {
    let left = n;
    for (;;) {
      if (this.buf.length > 0 && left > 0) {
        const part = this.take(Math.min(left, this.buf.length));
        left -= part.length;
        await sink(part);
      }
      if (left === 0) return;
      if (!(await this.more())) {
        if (n === Infinity) return;
        throw new CliError(`http: connection closed after ${n - left} of ${n} body bytes`);
      }
    }
  }

  stop(): void {
    this.idle.stop();
  }
}

interface Head {
  status: number;
  reason: string;
  headers: Map<string, string>;
  raw: Buffer;
}

async function readHead(r: Reader): Promise<Head> {
  const raw = await r.until('\r\n\r\n', 64 * 1024);
  const [statusLine, ...lines] = raw.toString('latin1').slice(0, -4).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine ?? '');
  if (!m) throw new CliError(`http: not an HTTP/1.x response: ${JSON.stringify(statusLine?.slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new CliError(`http: bad header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers, raw };
}

/** A chunked body: each chunk's bytes to `sink`, then the trailer is read and dropped. */
async function chunked(r: Reader, sink: (data: Buffer) => Promise<void>): Promise<void> {
  for (;;) {
    const line = (await r.until('\r\n', 1024)).toString('latin1');
    const size = parseInt(line, 16);
    if (!/^[0-9a-fA-F]+/.test(line) || !Number.isSafeInteger(size)) {
      throw new CliError(`http: bad chunk size line ${JSON.stringify(line.trim().slice(0, 40))}`);
    }
    if (size === 0) break;
    await r.body(size, sink);
    if ((await r.until('\r\n', 2)).length !== 2) throw new CliError('http: chunk not followed by CRLF');
  }
  while ((await r.until('\r\n', 8 * 1024)).length > 2);
}

/** `http-get`: an HTTP/1.1 GET written on a raw stream socket; the body (and with --include the head) to stdout. */
export async function httpGetCommand(url: string, o: HttpOptions, out: Output): Promise<void> {
  const req = parseUrl(url, o);
  const conn = await dialFor(req.addr, { ...o, tls: req.tls, servername: o.servername ?? (o.unix ? undefined : req.host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')) }, out);
  const r = new Reader(conn, o.timeout);
  try {
    const request = `GET ${req.path} HTTP/1.1\r\nHost: ${req.host}\r\nUser-Agent: socktool\r\nAccept: */*\r\nConnection: close\r\n\r\n`;
    out.dump('>', conn.remoteAddr, Buffer.from(request));
    await conn.write(request);
    let head = await readHead(r);
    // Interim responses (100 Continue, 103 Early Hints) come before the real one.
    while (head.status >= 100 && head.status < 200) {
      if (o.include && !out.json) await writeOut(head.raw);
      head = await readHead(r);
    }
    out.dump('<', conn.remoteAddr, head.raw);
    out.event('response', { status: head.status, reason: head.reason, headers: Object.fromEntries(head.headers) },
      `HTTP ${head.status} ${head.reason}`);
    if (o.fail && head.status >= 400) {
      throw new CliError(`http-get: the server answered ${head.status} ${head.reason}`.trimEnd(), 'error-answer');
    }
    if (o.include && !out.json) await writeOut(head.raw);
    const sink = (data: Buffer) => out.received('data', conn.remoteAddr, data);
    const length = head.headers.get('content-length');
    if (head.status === 204 || head.status === 304) return;
    if (/\bchunked\b/i.test(head.headers.get('transfer-encoding') ?? '')) await chunked(r, sink);
    else if (length !== undefined) {
      if (!/^\d+$/.test(length)) throw new CliError(`http: bad Content-Length ${JSON.stringify(length)}`);
      await r.body(Number(length), sink);
    } else await r.body(Infinity, sink);
  } finally {
    r.stop();
    conn.stream.destroy();
  }
}
