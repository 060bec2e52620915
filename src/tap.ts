// Above the socket API, beside relay.ts: tap() interposes on a live unix socket without touching its server or
// its clients. The socket's type, and whether it listens, come from the kernel (sock_diag, by the file's inode). Its own socket, of the same type, mode and owner, is bound beside the live one and the two files
// are exchanged in one step (renameat2 RENAME_EXCHANGE): from then on new clients reach the tap, which relays each
// to the original (now under the other name), and clients connected before go on undisturbed. close() exchanges
// them back, again in one step, before the tap's socket goes.
import { randomBytes } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { exchangeSocketFiles, NetError, unixSocketAt, type UnixAddress } from './api.js';
import { relay, type RelayOptions, type RelayServer } from './relay.js';

/** A tap in place. */
export interface Tap extends RelayServer {
  /** The live socket's path (now the tap's until close()). */
  readonly path: string;
  /** Where the original is while tapped. */
  readonly aside: string;
  /** Puts the original back at `path`, synchronously: for a process that exits without awaiting close(). */
  restore(): void;
}

const refuse = (path: string, code: string, detail: string): NetError =>
  new NetError({ op: 'bind', network: 'unix', addr: { network: 'unix', path, abstract: false } as UnixAddress, code, detail });

/**
 * Interposes on the live unix socket at `path` (stream, seqpacket or datagram): every connection or datagram that
 * comes to it from now on goes through a relay (with `options`: recording, events, impairments) to the original.
 * Refuses, changing nothing, when it could not put the original back: `path` is not a socket, nobody listens on
 * it, or its directory does not let this process exchange names in one step (not permitted, or a filesystem
 * without RENAME_EXCHANGE).
 */
export async function tap(path: string, options: RelayOptions = {}): Promise<Tap> {
  const live = resolve(path);
  let st;
  try {
    st = lstatSync(live);
  } catch (err) {
    throw refuse(live, (err as NodeJS.ErrnoException).code ?? 'ENOENT', 'no socket to tap there');
  }
  if (!st.isSocket()) throw refuse(live, 'ENOTSOCK', 'it is not a socket');
  const found = unixSocketAt(live);
  // A datagram socket bound there receives; a stream or seqpacket one must listen.
  if (!found || (!found.listening && found.network !== 'unixgram')) {
    throw refuse(live, 'ECONNREFUSED', 'nobody listens on it (a socket file left behind)');
  }
  const network = found.network;
  const aside = join(dirname(live), `.${basename(live)}.tap-${process.pid}-${randomBytes(3).toString('hex')}`);
  const at = (p: string): UnixAddress => ({ network, path: p, abstract: false });
  // Bound beside it, as it is: its mode and owner (set before anyone can connect).
  const server = await relay(at(aside), at(aside), { ...options, mode: st.mode & 0o7777, owner: st.uid, group: st.gid });
  let swapped = false;
  const restore = (): void => {
    if (!swapped) return;
    swapped = false;
    exchangeSocketFiles(at(aside), at(live));
  };
  const close = server.close.bind(server);
  // The tap is whole before the exchange, the last step: whatever fails before it leaves the live socket as it was.
  const t = Object.defineProperties(server, {
    // Reached at the live path from now on (the socket's own name is the aside one).
    addr: { value: at(live), enumerable: true },
    path: { value: live, enumerable: true },
    aside: { value: aside, enumerable: true },
    restore: { value: restore },
    // Back first, then the tap's socket (by then under the aside name, and removed only while it is the tap's).
    close: {
      value: async (...args: Parameters<RelayServer['close']>) => {
        try {
          restore();
        } finally {
          // Closed even when the exchange back failed: its socket file is then removed only if it is still the tap's.
          await close(...args);
        }
      },
    },
  }) as Tap;
  try {
    exchangeSocketFiles(at(aside), at(live));
    swapped = true;
  } catch (err) {
    await close();
    const code = (err as NetError).code;
    throw refuse(live, code, code === 'EINVAL'
      ? 'its filesystem cannot exchange two names in one step (RENAME_EXCHANGE), so the original could not be put back as it was'
      : `the tap cannot take its place: ${(err as Error).message}`);
  }
  return t;
}
