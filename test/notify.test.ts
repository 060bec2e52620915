// Readiness: socktool's servers and notify() speak sd_notify to $NOTIFY_SOCKET, checked against a receiver the
// test runs (Python, with SO_PASSCRED as systemd has it, and socktool listen) and against systemd-notify.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NetError, notify, notifyMessage } from '../src/index.js';
import { abstractName, cli, cliServer, live, liveCli, needs, notices, PEERS, run, sockPath, stopLive } from './helpers.js';

const saved = process.env.NOTIFY_SOCKET;
afterEach(() => {
  if (saved === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = saved;
});

/** A notify socket at `where`, and the messages it received, parsed. */
async function receiver(where: string) {
  const r = live('python3', ['-u', join(PEERS, 'notify_receiver.py'), where]);
  await r.waitFor(/^ready\n/);
  const messages = () => r.stdout().split('\n').slice(1).filter(Boolean)
    .map((l) => JSON.parse(l) as { message: string; pid: number | null });
  return { ...r, messages };
}

describe('readiness (sd_notify)', () => {
  it('a server says READY=1 once it accepts connections, and STOPPING=1 on SIGTERM, from its own pid', async () => {
    const path = sockPath('notify');
    const manager = await receiver(path);
    process.env.NOTIFY_SOCKET = path;
    const server = liveCli(['serve', `unix://${sockPath('app.sock')}`]);
    await manager.waitFor(/READY=1/);
    // Connect the moment READY=1 is read: the socket already accepts.
    const [ready] = manager.messages();
    const address = /^STATUS=listening on (\S+)$/m.exec(ready!.message)![1]!;
    expect((await cli(['send', address, 'ready?', '--reply'])).stdout).toBe('ready?');
    expect(ready).toEqual({ message: `READY=1\nSTATUS=listening on ${address}`, pid: server.child.pid });
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(manager.messages().map((m) => m.message)).toEqual([ready!.message, 'STOPPING=1']);
  });

  it('the messages look as systemd-notify --ready sends them: assignments one a line, no trailing newline', async (ctx) => {
    needs(ctx, 'systemd-notify');
    const path = sockPath('notify');
    const manager = await receiver(path);
    await run('systemd-notify', ['--ready'], undefined, 5000, { NOTIFY_SOCKET: path });
    await manager.waitFor(/READY=1/);
    process.env.NOTIFY_SOCKET = path;
    expect(await notify({ ready: true })).toBe(true);
    // systemd-notify follows its READY=1 with a BARRIER=1 (a synchronisation of its own); ours comes from our pid.
    await expect.poll(() => manager.messages().some((m) => m.pid === process.pid)).toBe(true);
    const theirs = manager.messages()[0];
    const ours = manager.messages().find((m) => m.pid === process.pid);
    expect(ours!.message).toBe(theirs!.message);
    expect(ours!.message).toBe('READY=1');
    expect(notifyMessage({ ready: true, status: 'up', extra: { WATCHDOG: '1' } })).toBe('READY=1\nSTATUS=up\nWATCHDOG=1');
  });

  it('an @abstract NOTIFY_SOCKET, received by socktool listen; listen itself says READY=1', async () => {
    const name = abstractName();
    const manager = await cliServer(['listen', `unixgram:@${name}`, '-k']);
    process.env.NOTIFY_SOCKET = `@${name}`;
    const udp = liveCli(['udp-echo', '--port', '0']);
    await manager.waitFor(/READY=1\nSTATUS=listening on udp:\/\/127\.0\.0\.1:\d+/);
    udp.child.kill('SIGTERM');
    await manager.waitFor(/STOPPING=1/);
    expect((await udp.exited).code).toBe(0);
    expect(await stopLive(manager)).toBe(0);
  });

  it('without NOTIFY_SOCKET nothing is done; a status stays one line; a bad socket or variable name is a clear error', async () => {
    delete process.env.NOTIFY_SOCKET;
    expect(await notify({ ready: true })).toBe(false);
    // Not even the message is made: a name that would be refused is not looked at.
    expect(await notify({ extra: { 'not a name': '1' } })).toBe(false);
    // A server on a path holding a newline, with no manager: nothing about notifying at all.
    const path = sockPath('two\nlines');
    const odd = await cliServer(['unix-server', path]);
    expect((await cli(['send', `unix://${path}`, 'hi', '--reply'])).stdout).toBe('hi');
    expect(await stopLive(odd)).toBe(0);
    expect(notices(odd)).toBe('');
    // A status (or any value) holding a newline or ESC is escaped as socktool prints text, never refused.
    expect(notifyMessage({ status: 'two\nlines \x1b[31m' })).toBe('STATUS=two\\nlines \\x1b[31m');
    expect(() => notifyMessage({ extra: { 'bad\nkey': '1' } })).toThrow(NetError);
    process.env.NOTIFY_SOCKET = 'relative/path';
    await expect(notify({ ready: true })).rejects.toThrow(/neither a path nor an @abstract name \(EAFNOSUPPORT\)/);
    // A server whose manager has gone says so in one line, and serves on.
    process.env.NOTIFY_SOCKET = sockPath('nobody-here');
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0']);
    await s.waitFor(/cannot notify the service manager: .*ENOENT/, 5000, 'stderr');
    expect((await cli(['send', s.address, 'still', '--reply'])).stdout).toBe('still');
    expect(await stopLive(s)).toBe(0);
  });
});
