import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dial, echo, listen, NetError, serve, type Conn, type Server } from '../src/index.js';
import { PEERS, sockPath } from './helpers.js';

const signal = () => AbortSignal.timeout(5000);

async function hello(server: Server | string, text = 'hi'): Promise<string> {
  const conn = await dial(typeof server === 'string' ? server : server.addr, { signal: signal() });
  await conn.end(text);
  const chunks: Buffer[] = [];
  for await (const c of conn) chunks.push(c);
  await conn.close();
  return Buffer.concat(chunks).toString();
}

describe('the unix socket file is the user\'s data', () => {
  it('a client that connects while the file is given its rights is accepted, not left waiting', async () => {
    const path = sockPath();
    // Dial as soon as the file is there: the first connection lands while listen() still sets the file's mode.
    const dialing = (async (): Promise<Conn> => {
      for (;;) {
        try {
          return await dial(`unix://${path}`);
        } catch {
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    })();
    const listener = await listen(`unix://${path}`, { mode: 0o660 });
    const client = await dialing;
    try {
      const accepted = await listener.accept({ signal: signal() });
      await client.write('early');
      expect((await accepted.read({ signal: signal() }))!.toString()).toBe('early');
      await accepted.close();
    } finally {
      await client.close();
      await listener.close();
    }
  });

  it('replaces a stale socket file left by a crashed server', async () => {
    const path = sockPath();
    execFileSync('python3', [join(PEERS, 'stale_socket.py'), path]);
    expect(lstatSync(path).isSocket()).toBe(true);
    const s = await serve(`unix://${path}`, echo);
    expect(await hello(s, 'fresh')).toBe('fresh');
    await s.close();
    expect(existsSync(path)).toBe(false);
  });

  it('refuses a live server\'s path with EADDRINUSE and leaves it serving', async () => {
    const path = sockPath();
    const live = await serve(`unix://${path}`, echo);
    const err = await serve(`unix://${path}`, echo).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(NetError);
    expect((err as NetError).code).toBe('EADDRINUSE');
    expect(await hello(live, 'unharmed')).toBe('unharmed');
    await live.close();
  });

  it('refuses a path that is not a socket and leaves the file as it was', async () => {
    const path = sockPath('data.txt');
    writeFileSync(path, 'precious');
    const err = await serve(`unix://${path}`, echo).then(() => null, (e: unknown) => e);
    expect((err as NetError).code).toBe('EADDRINUSE');
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  it('removes its own file on close, never a file that replaced it', async () => {
    const path = sockPath();
    const first = await serve(`unix://${path}`, echo);
    // Someone moves our file away and starts their own server on the path.
    renameSync(path, `${path}.old`);
    const second = await serve(`unix://${path}`, echo);
    await first.close();
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(await hello(second, 'still mine')).toBe('still mine');
    await second.close();
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.old`)).toBe(true);
  });

  it('serves a relative path, and keeps it relative in its address', async () => {
    const path = sockPath();
    const cwd = process.cwd();
    process.chdir(join(path, '..'));
    try {
      const s = await serve('unix:rel.sock', echo);
      expect(s.addr).toEqual({ network: 'unix', path: 'rel.sock', abstract: false });
      expect(await hello('unix:rel.sock', 'relative')).toBe('relative');
      await s.close();
      expect(existsSync('rel.sock')).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  });
});
