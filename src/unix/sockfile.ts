import { lstat, mkdtemp, rm, stat, symlink, unlink } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { MAX_UNIX_PATH } from '../core/address.js';

/** Why a path cannot be taken; the adapter turns it into a NetError. */
export class PathInUse extends Error {
  readonly code = 'EADDRINUSE';
  constructor(readonly detail: string) {
    super(detail);
  }
}

/** Connects to the socket at `path`: true if someone accepts, false if refused (a stale file). */
function probe(path: string): Promise<boolean> {
  return new Promise((done) => {
    const s = net.connect({ path });
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    // ECONNREFUSED: nobody listens; ENOENT: it went away meanwhile. Any other answer (EAGAIN for a full backlog,
    // EPROTOTYPE for a datagram socket) means someone may own it, so it counts as alive.
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

/**
 * Makes `path` free for a new socket without ever harming someone else's: a missing path is free (its directory
 * must exist); a socket file whose probe is refused is stale and is removed (if it is still the file probed);
 * a live socket or any other kind of file is in use.
 */
export async function claimPath(path: string): Promise<void> {
  const before = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (before === null) {
    // libuv's pipe bind reports a missing directory as EACCES (for Windows' sake): find the true ENOENT first.
    await stat(dirname(path));
    return;
  }
  if (!before.isSocket()) throw new PathInUse(`${path} exists and is not a socket`);
  if (await probe(path)) throw new PathInUse(`a server is listening on ${path}`);
  const now = await lstat(path).catch(() => null);
  if (now && now.ino === before.ino && now.dev === before.dev) await unlink(path).catch(() => {});
}

/**
 * libuv unlinks a pipe server's path when it closes, whoever's file is there by then. So the server binds
 * through a symlink in a private directory, removed once it listens: libuv's unlink then finds nothing, and
 * {@link SocketFile.release} unlinks the real path only while it is still this process's socket.
 */
export class SocketFile {
  private ino = -1;
  private dev = -1;
  readonly absolute: string;
  private linkDir: string | undefined;

  constructor(readonly path: string) {
    this.absolute = resolve(path);
  }

  /** The path to hand to bind(2): through the private link when it fits in sun_path, else the path itself. */
  async bindPath(): Promise<string> {
    this.linkDir = await mkdtemp(join(tmpdir(), 'st-'));
    const link = join(this.linkDir, 'd');
    const via = join(link, basename(this.absolute));
    if (Buffer.byteLength(via) > MAX_UNIX_PATH) {
      await this.dropLink();
      return this.path;
    }
    await symlink(dirname(this.absolute), link);
    return via;
  }

  /** Records which file is ours; call once listening. */
  async bound(): Promise<void> {
    await this.dropLink();
    const st = await lstat(this.absolute);
    this.ino = st.ino;
    this.dev = st.dev;
  }

  /** Removes the socket file if it is still the one this process made. */
  async release(): Promise<void> {
    await this.dropLink();
    const st = await lstat(this.absolute).catch(() => null);
    if (st && st.ino === this.ino && st.dev === this.dev) await unlink(this.absolute).catch(() => {});
  }

  private async dropLink(): Promise<void> {
    if (this.linkDir === undefined) return;
    const dir = this.linkDir;
    this.linkDir = undefined;
    await rm(dir, { recursive: true, force: true });
  }
}
