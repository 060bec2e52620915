import { readFileSync } from 'node:fs';
import { chmod, chown } from 'node:fs/promises';
import type { FileAccess } from '../core/types.js';
import { asksRights } from '../core/access.js';

/**
 * The umask a socket file is bound under when its rights are asked for: owner-only (0600), so that it never
 * exists looser than asked while chown and chmod are still to come. umask is per process; Node's JavaScript is
 * one thread and the bind is one synchronous call, and a file another thread makes meanwhile only comes out
 * stricter.
 */
const PRIVATE = 0o177;

/** What a socket file is to become: owner and group ids (-1: unchanged) and its mode. */
interface Rights {
  uid: number;
  gid: number;
  mode: number | undefined;
}

/**
 * Runs the synchronous `bind` under the private umask when rights are asked for, then restores it. A mode not
 * asked for becomes the one the umask would have given.
 */
export function bindPrivately<T>(rights: Rights | undefined, bind: () => T): T {
  if (!rights) return bind();
  const old = process.umask(PRIVATE);
  rights.mode ??= 0o777 & ~old; // what bind(2) gives a socket file
  try {
    return bind();
  } finally {
    process.umask(old);
  }
}

/** Whether any of mode, owner and group is asked for. */

/** An owner or group that does not exist; the adapter turns it into the bind's NetError. */
export class NoSuchId extends Error {
  readonly code = 'EINVAL';
  constructor(readonly detail: string) {
    super(detail);
  }
}

/** A user or group by name (from /etc/passwd or /etc/group, as getpwnam reads them) or by number. */
export function idOf(kind: 'user' | 'group', value: number | string): number {
  if (typeof value === 'number' || /^\d+$/.test(value)) return Number(value);
  const table = kind === 'user' ? '/etc/passwd' : '/etc/group';
  for (const line of readFileSync(table, 'utf8').split('\n')) {
    const [name, , id] = line.split(':');
    if (name === value && id !== undefined) return Number(id);
  }
  throw new NoSuchId(`no ${kind} named ${JSON.stringify(value)} in ${table}`);
}

/** Checks the names before anything is bound (an unknown user fails the bind with nothing made); undefined: none asked. */
export function rightsOf(a: FileAccess): Rights | undefined {
  if (!asksRights(a)) return undefined;
  return {
    uid: a.owner === undefined ? -1 : idOf('user', a.owner),
    gid: a.group === undefined ? -1 : idOf('group', a.group),
    mode: a.mode,
  };
}

/** Gives the bound socket file its owner and group, then its mode: from the private 0600 to what was asked. */
export async function applyRights(path: string, rights: Rights | undefined): Promise<void> {
  if (!rights) return;
  if (rights.uid !== -1 || rights.gid !== -1) await chown(path, rights.uid, rights.gid);
  await chmod(path, rights.mode!);
}
