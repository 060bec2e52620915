// serve --exec / --sh-exec: a program per connection or per datagram (inetd, ncat --sh-exec, socat EXEC:), on every
// network, driven by the real CLI as the client.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { abstractName, alive, cli, cliServer, live, notices, sockPath, stopLive, tempDir } from './helpers.js';

const ROWS = [
  ['tcp', () => 'tcp://127.0.0.1:0'],
  ['unix', () => `unix://${sockPath()}`],
  ['unixpacket', () => `unixpacket://${sockPath()}`],
  ['unix abstract', () => `unix:@${abstractName()}`],
  ['udp', () => 'udp://127.0.0.1:0'],
  ['unixgram', () => `unixgram://${sockPath()}`],
] as const;

describe.each(ROWS)('%s', (name, at) => {
  it('--exec: the program reads the peer\'s bytes on stdin and its stdout is the answer', async () => {
    const s = await cliServer(['serve', at(), '--exec', 'tr a-z A-Z']);
    const r = await cli(['send', s.address, `hello ${name}`, '--reply']);
    expect([r.code, r.stdout]).toEqual([0, `HELLO ${name.toUpperCase()}`]);
    expect(await stopLive(s)).toBe(0);
    expect(notices(s)).toBe('');
  });

  it('--exec with --json: a stream connection is reported accepted and closed, as with a handler', async () => {
    const s = await cliServer(['serve', at(), '--exec', 'cat', '--json']);
    const r = await cli(['send', s.address, 'seen', '--reply']);
    expect(r.stdout).toBe('seen');
    if (name === 'udp' || name === 'unixgram') {
      expect(s.stdout()).not.toMatch(/"event":"accepted"/); // datagrams have no connections to report
    } else {
      await expect.poll(() => s.stdout()).toMatch(/"event":"accepted"[^]*"event":"closed"/);
    }
    expect(await stopLive(s)).toBe(0);
  });

  it('--sh-exec: its environment names the peer and this side', async () => {
    const s = await cliServer(['serve', at(), '--sh-exec', 'cat >/dev/null; printf "%s|%s|%s" "$SOCKTOOL_PEER" "$SOCKTOOL_LOCAL" "$SOCKTOOL_PEER_UID"']);
    const r = await cli(['send', s.address, 'x', '--reply']);
    const [peer, local, uid] = r.stdout.split('|');
    expect(local).toBe(s.address);
    if (name.startsWith('unix')) {
      // A unix peer has credentials (a connection's, a datagram's); an unnamed unix client has no address to name.
      expect(uid).toBe(String(process.getuid!()));
      expect(peer).toMatch(name === 'unixgram' ? /^unixgram:@/ : /^unix(packet)?:$/);
    } else {
      expect(peer).toMatch(new RegExp(`^${name}://127\\.0\\.0\\.1:\\d+$`));
      expect(uid).toBe('');
    }
    expect(await stopLive(s)).toBe(0);
  });
});

describe('--exec on streams', () => {
  it('passes the half-close both ways: wc -c answers once the client has sent EOF, then the client sees EOF', async () => {
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--exec', 'wc -c']);
    const r = await cli(['send', s.address, 'abcdef', '--reply']);
    expect([r.code, r.stdout.trim()]).toEqual([0, '6']);
    expect(await stopLive(s)).toBe(0);
  });

  it('a program that cannot start: one line, that client closed, the server goes on', async () => {
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--exec', '/nonexistent/program']);
    for (let i = 0; i < 2; i++) expect((await cli(['send', s.address, 'x', '--reply', '--timeout', '2000'])).stdout).toBe('');
    await expect.poll(() => notices(s)).toMatch(/^(socktool: exec \/nonexistent\/program: ENOENT\n){2}$/);
    expect(await stopLive(s)).toBe(0);
  });

  it('children still running are killed on shutdown', async () => {
    const seconds = `31.${process.pid}`; // this run's own: no other test's child looks like it
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--exec', `sleep ${seconds}`]);
    const client = live('python3', ['-c', `import socket, time
s = socket.create_connection(('127.0.0.1', ${s.address.split(':').pop()}))
print('connected', flush=True)
time.sleep(30)`]);
    await client.waitFor(/^connected\n/);
    const sleeping = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\x00${seconds}\x00`;
      } catch {
        return false;
      }
    });
    await expect.poll(sleeping).toHaveLength(1);
    expect(await stopLive(s)).toBe(0);
    await expect.poll(sleeping).toHaveLength(0);
  });

  it('on shutdown, what a --sh-exec line started is killed with it (its process group)', async () => {
    const pidFile = join(tempDir(), 'pid');
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--sh-exec', `sleep 30 & echo $! > ${pidFile}; wait`]);
    const client = live('python3', ['-c', `import socket, time
s = socket.create_connection(('127.0.0.1', ${s.address.split(':').pop()}))
print('connected', flush=True)
time.sleep(30)`]);
    await client.waitFor(/^connected\n/);
    await expect.poll(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n')).toBe(true);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const running = () => alive(pid);
    expect(running()).toBe(true);
    expect(await stopLive(s)).toBe(0);
    await expect.poll(running, { timeout: 3000 }).toBe(false);
    client.child.kill();
  });

  it('--exec and --sh-exec together, or an empty --exec, are usage errors (exit 2)', async () => {
    expect((await cli(['serve', 'tcp://127.0.0.1:0', '--exec', 'cat', '--sh-exec', 'cat'])).code).toBe(2);
    expect((await cli(['serve', 'tcp://127.0.0.1:0', '--exec', ' '])).code).toBe(2);
  });
});
