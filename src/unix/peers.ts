import type { Address } from '../core/address.js';
import { invalid, type Op } from '../core/errors.js';
import { asksPeers } from '../core/access.js';
import type { Conn, PeerAccess, PeerCredentials } from '../core/types.js';
import type { PeerGate } from '../core/adapter.js';
import { peerCredentialsOf } from '../native/options.js';
import { idOf } from './access.js';

/**
 * The peer check `options` ask for on the unix address `addr`, or undefined when everyone is admitted. Abstract
 * names admit only this process's user unless told otherwise. An unknown user or group name is EINVAL.
 */
export function peerGate(op: Op, addr: Address, options: PeerAccess): PeerGate | undefined {
  const named = 'path' in addr && addr.path !== '';
  if (!asksPeers(options)) {
    // The kernel checks nothing on an abstract name: anyone on the host (in this network namespace) can reach it.
    if (!named || !addr.abstract || options.allow === 'everyone') return undefined;
    return new Gate(new Set([process.geteuid!()]), new Set(), undefined, options.onRefused,
      'another user (an abstract name admits only its own by default)');
  }
  const allow = options.allow === 'everyone' ? undefined : options.allow;
  let uids: Set<number> | undefined;
  let gids: Set<number> | undefined;
  try {
    if (allow) {
      uids = new Set((allow.uids ?? []).map((u) => idOf('user', u)));
      gids = new Set((allow.gids ?? []).map((g) => idOf('group', g)));
    }
  } catch (err) {
    throw invalid(op, (err as Error).message, addr.network, addr);
  }
  return new Gate(uids, gids, options.authorize, options.onRefused, 'not in the allow list');
}

/** SO_PEERCRED of an accepted connection; undefined when it cannot be read (the connection is refused then). */
function credentialsOf(fd: number): PeerCredentials | undefined {
  try {
    return fd < 0 ? undefined : peerCredentialsOf(fd);
  } catch {
    return undefined;
  }
}

const UNKNOWN: PeerCredentials = { pid: 0, uid: -1, gid: -1 };

class Gate implements PeerGate {
  refused = 0;

  /** `uids` and `gids` undefined: no allow list (authorize alone decides); `notAllowed`: why one refuses. */
  constructor(private uids: Set<number> | undefined, private gids: Set<number> | undefined,
    private authorize: PeerAccess['authorize'], private onRefused: PeerAccess['onRefused'], private notAllowed: string) {}

  admitsConn(conn: Conn): boolean {
    const remote = conn.remoteAddr;
    const addr = 'path' in remote && remote.path === '' ? null : remote;
    return this.admits(credentialsOf(conn.fd), addr);
  }

  admitsDatagram(credentials: PeerCredentials | undefined, from: Address | null): boolean {
    return this.admits(credentials, from);
  }

  private admits(credentials: PeerCredentials | undefined, addr: Address | null): boolean {
    const why = this.refusal(credentials, addr);
    if (why === undefined) return true;
    this.refused++;
    this.onRefused?.({ ...(credentials ?? UNKNOWN), addr }, why);
    return false;
  }

  /** Why this peer is refused, or undefined when it is admitted. */
  private refusal(c: PeerCredentials | undefined, addr: Address | null): string | undefined {
    if (!c) return 'its credentials are unknown';
    if (this.uids && !this.uids.has(c.uid) && !this.gids!.has(c.gid)) return this.notAllowed;
    if (!this.authorize) return undefined;
    try {
      return this.authorize({ ...c, addr }) ? undefined : 'authorize refused it';
    } catch (err) {
      return `authorize failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
}
