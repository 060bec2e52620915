// Access by peer identity (allow lists, authorize, the abstract-name default): real clients as nobody and as
// this user, on all three unix types, through the CLI and the library.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bind, dial, echo, listen, serve, type Peer } from '../src/index.js';
import { abstractName, accessClient, cli, cliServer, needsRoot, oneLineOf, openDir, stopLive, until } from './helpers.js';
import { rowsWhere } from './rows.js';

/** Every unix network, on a path. */
const KINDS = rowsWhere((r) => r.unix && !r.abstract);

describe.each(KINDS.map((r) => [r.network, r] as const))('%s', (network, row) => {
  /** What a refused peer sees: a stream connection closed unanswered, a datagram never answered. */
  const refused = row.shape === 'stream' ? 'closed' : 'no-reply';
  it('--allow-uid and --allow-gid admit whom they name and refuse the rest, each refusal told', async (ctx) => {
    needsRoot(ctx);
    const dir = openDir();
    const cases: [string[], string, string][] = [
      // flags, nobody's outcome, this user's (root's) outcome
      [['--allow-uid', 'nobody'], 'ok hi', refused],
      [['--allow-gid', 'nogroup'], 'ok hi', refused],
      [['--allow-uid', '0,nobody'], 'ok hi', 'ok hi'],
      [['--allow-uid', 'root'], refused, 'ok hi'],
    ];
    for (const [flags, nobody, me] of cases) {
      const path = join(dir, `${flags.join('')}.sock`);
      const s = await cliServer(['serve', `${network}://${path}`, '--mode', '0666', '--json', ...flags]);
      expect([flags, await accessClient('nobody', network, path), await accessClient('me', network, path)])
        .toEqual([flags, nobody, me]);
      expect(await stopLive(s)).toBe(0);
      const refused = s.stdout().split('\n').filter((l) => l.includes('"event":"refused"')).map((l) => JSON.parse(l));
      const expected = [nobody, me].filter((o) => o !== 'ok hi').length;
      expect(refused).toHaveLength(expected);
      for (const e of refused) expect(e).toMatchObject({ reason: 'not in the allow list', pid: expect.any(Number) });
      expect(s.stderr().match(/socktool: refused pid \d+ uid \d+ gid \d+.*: not in the allow list\n/g) ?? [])
        .toHaveLength(expected);
    }
  });

  it('an abstract name admits only its own user by default; --allow-everyone opens it', async (ctx) => {
    needsRoot(ctx);
    const name = `@${abstractName()}`;
    const closed = await cliServer(['serve', `${network}:${name}`]);
    expect(await accessClient('nobody', network, name)).toBe(refused);
    expect(await accessClient('me', network, name)).toBe('ok hi');
    expect(await stopLive(closed)).toBe(0);
    expect(closed.stderr()).toMatch(/refused pid \d+ uid 65534 gid 65534.*: another user \(an abstract name admits only its own by default\)/);
    const open = await cliServer(['serve', `${network}:${name}`, '--allow-everyone']);
    expect(await accessClient('nobody', network, name)).toBe('ok hi');
    expect(await stopLive(open)).toBe(0);
  });

  it('authorize sees uid, gid, pid and address; false or a throw refuses, and refusals are counted', async (ctx) => {
    needsRoot(ctx);
    const seen: Peer[] = [];
    const refusals: string[] = [];
    const name = `@${abstractName()}`;
    const options = {
      authorize: (peer: Peer) => {
        seen.push(peer);
        if (peer.uid === 0) throw new Error('no root here');
        return peer.uid === 65534;
      },
      onRefused: (_: Peer, why: string) => refusals.push(why),
    };
    const server = await serve(`${network}:${name}`, echo, options);
    try {
      // The message is the client's pid: the kernel's pid must match it.
      const nobody = await accessClient('nobody', network, name, '$pid');
      expect(nobody).toMatch(/^ok \d+$/);
      expect(await accessClient('me', network, name)).toBe(refused);
      expect(seen[0]).toMatchObject({ uid: 65534, gid: 65534, pid: Number(nobody.slice(3)) });
      expect(seen[1]).toMatchObject({ uid: 0, gid: 0 });
      // Datagram senders autobind (they must, to be answered); stream clients are unnamed.
      if (network === 'unixgram') expect(seen[0]!.addr).toMatchObject({ network, abstract: true });
      else expect(seen[0]!.addr).toBeNull();
      expect(refusals).toEqual(['authorize failed: no root here']);
      expect(server.refused).toBe(1);
    } finally {
      await server.close();
    }
  });
});

describe('peer identity', () => {
  it('every unixgram datagram carries its sender\'s credentials', async (ctx) => {
    needsRoot(ctx);
    const name = `@${abstractName()}`;
    const sock = await bind(`unixgram:${name}`, { allow: 'everyone' });
    try {
      const sent = accessClient('nobody', 'unixgram', name, '$pid');
      const d = await sock.recvFrom({ signal: AbortSignal.timeout(5000) });
      expect(d.credentials).toEqual({ pid: Number(d.data.toString()), uid: 65534, gid: 65534 });
      expect(await sent).toBe('no-reply');
      const me = await bind('unixgram:');
      await me.sendTo('x', `unixgram:${name}`);
      expect((await sock.recvFrom()).credentials).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
      await me.close();
    } finally {
      await sock.close();
    }
  });

  it('a flood of refused peers is a few lines a second, and the rest summed up', async (ctx) => {
    needsRoot(ctx);
    const name = `@${abstractName()}`;
    const s = await cliServer(['serve', `unix:${name}`, '--allow-uid', 'nobody']);
    expect((await accessClient('me', 'unix', name, 'hi', 40)).split('\n')).toEqual(Array(40).fill('closed'));
    const one = () => s.stderr().match(/socktool: refused pid \d+ uid 0 gid 0: not in the allow list\n/g) ?? [];
    const more = () => [...s.stderr().matchAll(/socktool: refused (\d+) more peers? in that second\n/g)].map((m) => Number(m[1]));
    // The summary comes when the second is over.
    await until(() => one().length + more().reduce((a, b) => a + b, 0) === 40, 'every refusal told or summed up');
    expect(await stopLive(s)).toBe(0);
    expect(one().length).toBeLessThanOrEqual(10);
    expect(one().length + more().reduce((a, b) => a + b, 0)).toBe(40);
  });

  it('an allow list where peers have no user, or naming no such user, is refused before binding', async () => {
    const tcp = await cli(['serve', 'tcp://127.0.0.1:0', '--allow-uid', 'nobody']);
    expect([tcp.code, oneLineOf(tcp)]).toEqual([2, expect.stringMatching(/--allow-uid does not apply: tcp:\/\/127\.0\.0\.1:0 is not a unix socket/)]);
    const both = await cli(['listen', 'unix:@x', '--allow-everyone', '--allow-gid', '0']);
    expect([both.code, oneLineOf(both)]).toEqual([2, expect.stringMatching(/--allow-everyone does not apply: it contradicts/)]);
    const who = await cli(['serve', `unix:@${abstractName()}`, '--allow-uid', 'no-such-user-here']);
    expect(oneLineOf(who)).toMatch(/no user named "no-such-user-here" in \/etc\/passwd \(EINVAL\)/);
    await expect(listen('tcp://127.0.0.1:0', { allow: { uids: [0] } })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(bind('udp://127.0.0.1:0', { authorize: () => true })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('a refused stream peer never reaches accept(), and the listener goes on', async () => {
    const name = `@${abstractName()}`;
    const l = await listen(`unixpacket:${name}`, { allow: { uids: [process.getuid!() + 1] } });
    const refused = await dial(`unixpacket:${name}`);
    expect(await refused.read({ signal: AbortSignal.timeout(5000) })).toBeNull();
    await expect(l.accept({ signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(l.refused).toBe(1);
    await refused.close();
    await l.close();
  });
});
