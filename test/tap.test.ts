// socktool tap against a running server (Python's, in the tutorial style) on each unix socket type: clients
// connected before, during and after the tap; the original put back as it was (its inode, mode and owner); and
// the refusals that change nothing.
import { chmodSync, chownSync, lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindTo, dial, type Conn, type DatagramSocket } from '../src/index.js';
import {
  accessClient, BIN, cli, cliServer, liveCli, live, needs, needsRoot, openDir, PEERS, readableCopy, readableSocktool, run, stopLive, tempDir,
} from './helpers.js';

type Kind = 'unix' | 'unixpacket' | 'unixgram';

/** A client of `kind` made before the tap and kept: it asks and reads the echo. */
async function keptClient(kind: Kind, path: string): Promise<{ ask(m: string): Promise<string>; close(): Promise<void> }> {
  if (kind === 'unixgram') {
    const s: DatagramSocket = await bindTo(`unixgram://${path}`);
    return { ask: async (m) => (await s.send(m), String((await s.recvFrom()).data)), close: () => s.close() };
  }
  const c: Conn = await dial(`${kind}://${path}`);
  return {
    ask: async (m) => {
      await c.write(m);
      let got = '';
      while (got.length < m.length) got += String(await c.read());
      return got;
    },
    close: () => c.close(),
  };
}

const identity = (path: string) => {
  const st = lstatSync(path);
  return { ino: st.ino, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
};

describe('socktool tap', () => {
  it.for(['unix', 'unixpacket', 'unixgram'] as const)('%s: clients before, during and after; the original back as it was', { timeout: 60_000 }, async (kind, ctx) => {
    needs(ctx, 'tshark');
    const dir = tempDir();
    const path = join(dir, 'app.sock');
    const server = live('python3', [join(PEERS, 'server.py'), kind, path, 'echo']);
    await server.waitFor(/^listening /);
    chmodSync(path, 0o640);
    const before = identity(path);
    const early = await keptClient(kind, path);
    const file = join(dir, 'tap.pcapng');
    const t = liveCli(['tap', path, '--json', '--pcap', file]);
    try {
      expect(await early.ask('before the tap')).toBe('before the tap');
      await t.waitFor(/"event":"listening".*"address":"([^"]+)"/);
      // The tap's socket at the path, as the original was; the original beside it.
      const during = identity(path);
      expect(during.ino).not.toBe(before.ino);
      expect({ ...during, ino: 0 }).toEqual({ ...before, ino: 0 });
      const aside = readdirSync(dir).find((f) => f.startsWith('.app.sock.tap-'))!;
      expect(identity(join(dir, aside))).toEqual(before);
      // The early client goes on; a new one goes through the tap, which reports and records it.
      expect(await early.ask('during, kept')).toBe('during, kept');
      const middle = await keptClient(kind, path);
      expect(await middle.ask('through the tap')).toBe('through the tap');
      await t.waitFor(/"event":"data".*"direction":"to-client"/);
      await middle.close();
      expect(await stopLive(t)).toBe(0);
      // Back as it was, the tap's socket gone; everyone is served directly again.
      expect(identity(path)).toEqual(before);
      expect(readdirSync(dir).filter((f) => f.startsWith('.app.sock.tap-'))).toEqual([]);
      expect(await early.ask('after, kept')).toBe('after, kept');
      const late = await keptClient(kind, path);
      expect(await late.ask('after the tap')).toBe('after the tap');
      await late.close();
      const r = await run('tshark', ['-r', file, '-T', 'fields', '-e', 'data.data', '-e', 'tcp.payload']);
      expect(r.stdout.replace(/[\t\n]/g, '')).toContain(Buffer.from('through the tap').toString('hex'));
    } finally {
      t.child.kill();
      await early.close();
      server.child.kill();
    }
  });

  it('a socktool server, which binds its path through a private symlink, is found by its inode and tapped', async () => {
    const path = join(tempDir(), 'echo.sock');
    const server = await cliServer(['unix-server', path]);
    const before = identity(path);
    const t = liveCli(['tap', path, '--json']);
    try {
      await t.waitFor(/"event":"listening"/);
      const c = await keptClient('unix', path);
      expect(await c.ask('through the tap')).toBe('through the tap');
      await c.close();
      await t.waitFor(/"event":"data".*"direction":"to-client"/);
      expect(await stopLive(t)).toBe(0);
      expect(identity(path)).toEqual(before);
    } finally {
      t.child.kill();
      await stopLive(server);
    }
  });

  it("a server run by another user: the tap's socket is that user's, with its mode, and that user's clients get through", async (ctx) => {
    needsRoot(ctx);
    const dir = openDir();
    chownSync(dir, 65534, 65534);
    const path = join(dir, 'app.sock');
    const server = live('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '/usr/bin/python3',
      readableCopy('server.py'), 'unix', path, 'echo']);
    await server.waitFor(/^listening /);
    chmodSync(path, 0o600);
    const before = identity(path);
    expect(before.uid).toBe(65534);
    const t = liveCli(['tap', path, '--json']);
    try {
      await t.waitFor(/"event":"listening"/);
      expect({ ...identity(path), ino: 0 }).toEqual({ ...before, ino: 0 });
      expect(await accessClient('nobody', 'unix', path, 'as nobody')).toBe('ok as nobody');
      await t.waitFor(/"event":"connected"/);
      expect(await stopLive(t)).toBe(0);
      expect(identity(path)).toEqual(before);
    } finally {
      t.child.kill();
      server.child.kill();
    }
  }, 60_000);

  it('run by an ordinary user on its own server: no privilege needed, and all put back on exit', async (ctx) => {
    needsRoot(ctx); // to become nobody
    needs(ctx, 'setpriv');
    const dir = openDir();
    chownSync(dir, 65534, 65534);
    const path = join(dir, 'app.sock');
    const asNobody = ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups'];
    const server = live('setpriv', [...asNobody, '/usr/bin/python3', readableCopy('server.py'), 'unix', path, 'echo']);
    await server.waitFor(/^listening /);
    const before = identity(path);
    const t = live('setpriv', [...asNobody, process.execPath, readableSocktool(), 'tap', path, '--json']);
    try {
      await t.waitFor(/"event":"listening"/);
      expect(identity(path).uid).toBe(65534);
      expect(identity(path).ino).not.toBe(before.ino); // the tap's socket, in the original's place
      expect(await accessClient('nobody', 'unix', path, 'through the tap')).toBe('ok through the tap');
      await t.waitFor(/"event":"connected"/);
      expect(await stopLive(t)).toBe(0);
      expect(identity(path)).toEqual(before);
      expect(readdirSync(dir)).toEqual(['app.sock']);
    } finally {
      t.child.kill();
      server.child.kill();
    }
  }, 60_000);

  it('refuses, changing nothing: not a socket (1), nobody listening (4), an abstract name (2), a read-only directory (1)', async (ctx) => {
    const dir = tempDir();
    const listing = () => readdirSync(dir).sort();
    const plain = join(dir, 'plain.txt');
    writeFileSync(plain, 'not a socket');
    const stale = join(dir, 'stale.sock');
    expect((await run('python3', [join(PEERS, 'stale_socket.py'), stale])).code).toBe(0);
    const was = listing();
    const notSocket = await cli(['tap', plain]);
    expect([notSocket.code, notSocket.stderr]).toEqual([1, expect.stringMatching(/plain\.txt: it is not a socket \(ENOTSOCK\)\n$/)]);
    const nobody = await cli(['tap', stale]);
    expect([nobody.code, nobody.stderr]).toEqual([4, expect.stringMatching(/nobody listens on it/)]);
    const abstract = await cli(['tap', '@some-name']);
    expect([abstract.code, abstract.stderr]).toEqual([2, expect.stringMatching(/an abstract name has no file to move aside/)]);
    for (const r of [notSocket, nobody, abstract]) {
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    expect(listing()).toEqual(was);
    // A directory it may not change (read-only, in a mount namespace of the test's own): nothing changes.
    needsRoot(ctx);
    needs(ctx, 'unshare');
    const ro = tempDir();
    const path = join(ro, 'app.sock');
    const server = live('python3', [join(PEERS, 'server.py'), 'unix', path, 'echo']);
    await server.waitFor(/^listening /);
    const roBefore = identity(path);
    try {
      const denied = await run('unshare', ['-m', 'sh', '-c', 'mount --bind -o ro "$1" "$1" && exec "$2" "$3" tap "$4"', 'sh',
        ro, process.execPath, BIN, path]);
      expect(denied.stderr).toMatch(/read-only file system \(EROFS\)/);
      expect(denied.stderr.trim().split('\n')).toHaveLength(1);
      expect(denied.code).toBe(1);
      expect(identity(path)).toEqual(roBefore);
      expect(readdirSync(ro)).toEqual(['app.sock']);
    } finally {
      server.child.kill();
    }
  }, 60_000);
});
