import { isIPv4, isIPv6 } from 'node:net';
import { badAddress } from './errors.js';
import { isNetwork, NETWORKS, pinnedFamily, type InetNetwork, type UnixNetwork } from './networks.js';

export { isStreamNetwork, pinnedFamily, type InetNetwork, type Network, type UnixNetwork } from './networks.js';

/**
 * An IP endpoint. `host` is an IP literal (no brackets), a host name, or `''` for every interface.
 *
 * @example
 * const a: InetAddress = { network: 'tcp', host: '::1', port: 8000 }  // formats as tcp://[::1]:8000
 */
export interface InetAddress {
  network: InetNetwork;
  host: string;
  port: number;
}

/**
 * An AF_UNIX endpoint. `path` is a file path, or with `abstract` a Linux abstract name (without the leading NUL).
 * An empty, non-abstract path is an unnamed socket (a client that never bound).
 *
 * @example
 * const a: UnixAddress = { network: 'unix', path: '/tmp/app.sock', abstract: false }  // unix:///tmp/app.sock
 */
export interface UnixAddress {
  network: UnixNetwork;
  path: string;
  abstract: boolean;
}

/**
 * Any endpoint: what every call takes (or its text) and every socket reports.
 *
 * @example
 * const where: Address = parseAddress(process.env.SERVICE_ADDR ?? 'unix:///run/app.sock')
 */
export type Address = InetAddress | UnixAddress;

/**
 * The longest unix path or abstract name, in bytes: sun_path is 108 bytes and a path needs its NUL terminator
 * (an abstract name has a leading NUL instead). Longer ones are rejected before any syscall.
 *
 * @example
 * if (Buffer.byteLength(path) > MAX_UNIX_PATH) console.error('path too long for a unix socket')
 */
export const MAX_UNIX_PATH = 107;


/**
 * Parses the address grammar: `tcp://127.0.0.1:8000`, `udp6://[::1]:0`, `udp://:9999`, `unix:///tmp/app.sock`,
 * `unix:rel/app.sock`, `unixgram:@name`. Hand-written, because `new URL()` keeps IPv6 brackets, rejects an empty
 * host and percent-encodes paths.
 *
 * @throws NetError `ERR_SOCKTOOL_BAD_ADDRESS` naming the bad part.
 * @example
 * parseAddress('tcp://[::1]:8000') // { network: 'tcp', host: '::1', port: 8000 }
 */
export function parseAddress(text: string): Address {
  if (typeof text !== 'string' || text === '') throw badAddress(String(text ?? ''), 'empty address');
  const colon = text.indexOf(':');
  const network = colon > 0 ? text.slice(0, colon) : '';
  const rest = text.slice(colon + 1);
  if (!isNetwork(network)) {
    if (network === 'fd') throw badAddress(text, 'an inherited socket (fd:N, fd:NAME): listen, bind, serve and dial take it, not as an address to send to');
    const meant = meantAddress(text);
    if (meant) throw badAddress(text, `no network: did you mean ${meant}?`);
    if (colon <= 0) throw badAddress(text, 'missing network (write it as tcp://host:port, unix:///path, …)');
    throw badAddress(text, `unknown network "${network}" (expected one of ${Object.keys(NETWORKS).join(' ')})`);
  }
  return NETWORKS[network].family === 'inet'
    ? parseInet(text, network as InetNetwork, rest)
    : parseUnix(text, network as UnixNetwork, rest);
}

/**
 * What netcat's spelling of an address (no network) means in the grammar: `HOST:PORT` and `[V6]:PORT` a TCP (or
 * UDP) one, a path or `@name` a unix one; undefined when it is neither.
 */
function meantAddress(text: string): string | undefined {
  if (/^(\[[0-9A-Fa-f:.%\w]+\]|[\w.-]*):\d{1,5}$/.test(text)) return `tcp://${text} (or udp://${text})`;
  if (text.startsWith('@') && text.length > 1) return `unix:${text}`;
  if (text.startsWith('/')) return `unix://${text}`;
  if (!text.includes(':') && (text.startsWith('./') || text.startsWith('../') || /\.sock$/.test(text))) return `unix:${text}`;
  return undefined;
}

function parseInet(text: string, network: InetNetwork, rest: string): InetAddress {
  if (!rest.startsWith('//')) throw badAddress(text, `expected "//" after "${network}:"`);
  const hostPort = rest.slice(2);
  let host: string;
  let portText: string;
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    if (end < 0) throw badAddress(text, 'unclosed "[" in IPv6 address');
    host = hostPort.slice(1, end);
    const after = hostPort.slice(end + 1);
    if (!after.startsWith(':')) throw badAddress(text, 'missing port after "]" (as in [::1]:8000)');
    if (!isIPv6(stripZone(host))) throw badAddress(text, `"${host}" in brackets is not an IPv6 address`);
    portText = after.slice(1);
  } else {
    const i = hostPort.lastIndexOf(':');
    if (i < 0) throw badAddress(text, 'missing port (as in host:8000)');
    host = hostPort.slice(0, i);
    portText = hostPort.slice(i + 1);
    if (host.includes(':')) throw badAddress(text, 'an IPv6 address needs brackets, as in [::1]:8000');
  }
  return checkInet(text, { network, host, port: parsePort(text, portText) });
}

function parseUnix(text: string, network: UnixNetwork, rest: string): UnixAddress {
  if (rest.startsWith('@')) return checkUnix(text, { network, path: rest.slice(1), abstract: true });
  let path = rest;
  if (rest.startsWith('//')) {
    path = rest.slice(2);
    if (!path.startsWith('/')) {
      throw badAddress(text, `"${network}://" takes an absolute path (${network}:///tmp/x.sock); write a relative one as ${network}:dir/x.sock`);
    }
  }
  return checkUnix(text, { network, path, abstract: false });
}

function parsePort(text: string, portText: string): number {
  if (portText === '') throw badAddress(text, 'missing port number');
  if (!/^\d+$/.test(portText)) throw badAddress(text, `port "${portText}" is not a number`);
  const port = Number(portText);
  if (port > 65535) throw badAddress(text, `port ${portText} is out of range 0-65535`);
  return port;
}

const stripZone = (host: string) => host.replace(/%[^%]+$/, '');
const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/;

/** Checks the parts of an IP address; `text` is what the error names. */
function checkInet(text: string, a: InetAddress): InetAddress {
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) {
    throw badAddress(text, `port ${a.port} is out of range 0-65535`);
  }
  const h = a.host;
  const v6 = isIPv6(stripZone(h));
  if (h !== '' && !v6 && !isIPv4(h)) {
    if (/^[\d.]+$/.test(h)) throw badAddress(text, `"${h}" is not a valid IPv4 address`);
    if (h.length > 253 || !HOSTNAME.test(h)) throw badAddress(text, `"${h}" is not a valid host name or IP address`);
  }
  const family = pinnedFamily(a.network);
  if (family === 4 && v6) throw badAddress(text, `${a.network} cannot use the IPv6 address ${h}`);
  if (family === 6 && isIPv4(h)) throw badAddress(text, `${a.network} cannot use the IPv4 address ${h}`);
  return a;
}

function checkUnix(text: string, a: UnixAddress): UnixAddress {
  if (a.path.includes('\0')) throw badAddress(text, 'unix path contains a NUL byte');
  if (a.abstract && a.path === '') throw badAddress(text, 'empty abstract name after "@"');
  const bytes = Buffer.byteLength(a.path);
  if (bytes > MAX_UNIX_PATH) {
    throw badAddress(text, `unix ${a.abstract ? 'abstract name' : 'path'} is ${bytes} bytes; the limit is ${MAX_UNIX_PATH} (sun_path)`);
  }
  return a;
}

/**
 * Formats an address in the grammar {@link parseAddress} reads; `parseAddress(formatAddress(a))` equals `a`.
 * Servers print it (`listening on udp://127.0.0.1:41234`), so scripts can parse it back.
 *
 * @example
 * formatAddress({ network: 'unix', path: '/tmp/app.sock', abstract: false }) // 'unix:///tmp/app.sock'
 */
export function formatAddress(a: Address): string {
  if ('path' in a) {
    if (a.abstract) return `${a.network}:@${a.path}`;
    if (a.path.startsWith('/')) return `${a.network}://${a.path}`;
    // A relative path that starts with "@" reads as an abstract name; toAddress() refuses such an object, and
    // printed this way it at least names the same file.
    return a.path.startsWith('@') ? `${a.network}:./${a.path}` : `${a.network}:${a.path}`;
  }
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${a.network}://${host}:${a.port}`;
}

/**
 * Builds a checked IP address from parts (a host given as `::1` or `[::1]`), as the CLI's `--host`/`--port` do.
 *
 * @example
 * inetAddress('udp', '::1', 9999) // { network: 'udp', host: '::1', port: 9999 }
 */
export function inetAddress(network: InetNetwork, host: string, port: number): InetAddress {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const a = { network, host: bare, port };
  const text = formatAddress(a);
  if (bare.includes(':') && !isIPv6(stripZone(bare))) throw badAddress(text, `"${host}" is not a valid IPv6 address`);
  return checkInet(text, a);
}

/**
 * Builds a checked unix address from a path; `@name` is an abstract name, as in the grammar.
 *
 * @example
 * unixAddress('unix', '/tmp/app.sock') // { network: 'unix', path: '/tmp/app.sock', abstract: false }
 */
export function unixAddress(network: UnixNetwork, path: string): UnixAddress {
  const abstract = path.startsWith('@');
  const a = { network, path: abstract ? path.slice(1) : path, abstract };
  const text = `${network}:${path}`;
  if (!abstract && path === '') throw badAddress(text, 'empty unix path');
  return checkUnix(text, a);
}

/** The address is a unix path, so a socket bound to it is a file (abstract names, unnamed sockets and ports are not). */
export const hasSocketFile = (a: Address): a is UnixAddress => 'path' in a && a.path !== '' && !a.abstract;

/** Accepts an address as text or as an {@link Address}, checked either way (a NetError if it is not one). */
export function toAddress(a: string | Address): Address {
  if (typeof a !== 'object' || a === null) return parseAddress(a);
  const family = isNetwork(a.network) ? NETWORKS[a.network].family : undefined;
  const known = family === 'inet' ? typeof (a as InetAddress).host === 'string'
    : family === 'unix' && typeof (a as UnixAddress).path === 'string';
  if (!known) throw badAddress(JSON.stringify(a), 'not an address object ({ network, host, port } or { network, path, abstract })');
  if ('path' in a && !a.abstract && a.path.startsWith('@')) {
    // The grammar spells "@name" as an abstract name, so this object has no text that reads back as itself.
    throw badAddress(JSON.stringify(a), `a relative path that starts with "@" reads as an abstract name: write ./${a.path}`);
  }
  return parseAddress(formatAddress(a));
}
