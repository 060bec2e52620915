// The channel commands (call, reply, publish, subscribe) as real processes talking to each other, the same cases
// on every transport row: request/reply with --echo and --exec, error replies, timeouts and a missing server
// (each with its exit code), publish/subscribe with topics, a shared key (--authkey-file) on the stream rows, and
// the usage errors.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { ROWS as CHANNEL_ROWS, type Row as ChannelRow } from './channel-rows.js';
import { abstractName, alive, cli, cliServer, closedPort, liveCli, makeCert, needs, notices, oneLineOf, sockPath, stopLive, tempDir } from './helpers.js';

interface Row extends ChannelRow {
  /** An address nothing listens on. */
  nothing(): Promise<string>;
}

/** The channel suites' transports, each with an address nothing listens on: a port held closed, or a fresh name. */
const ROWS: Row[] = CHANNEL_ROWS.map((r) => ({
  ...r,
  nothing: async () => {
    if (r.unix) return r.at();
    const host = r.ip === 6 ? '::1' : '127.0.0.1';
    const port = closedPort(r.datagram ? 'udp' : 'tcp', host);
    return `${r.network}://${r.ip === 6 ? `[${host}]` : host}:${port}`;
  },
}));

/** The TLS flags of each side, for a TLS row (a certificate made for the test); none otherwise. */
function tlsFlags(ctx: TestContext, row: Row): { server: string[]; client: string[] } {
  if (!row.tls) return { server: [], client: [] };
  needs(ctx, 'openssl');
  const { cert, key } = makeCert();
  return { server: ['--tls', '--cert', cert, '--key', key], client: ['--tls', '--ca', cert] };
}

const isUnix = (row: Row) => row.unix;

describe.for(ROWS)('channel commands on $name', (row) => {
  it('call → reply --echo: the reply is the request, one JSON line (compacted); --codec bytes passes bytes as they are', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const s = await cliServer(['reply', row.at(), '--echo', ...tls.server]);
    const r = await cli(['call', s.address, '{ "a": 1,\n  "b": ["x", null] }', ...tls.client]);
    expect([r.stdout, r.stderr, r.code]).toEqual(['{"a":1,"b":["x",null]}\n', '', 0]);
    // The request on stdin; --json gives the reply as an event.
    const j = await cli(['call', s.address, '--json', ...tls.client], '[1, 2]');
    expect(JSON.parse(j.stdout)).toMatchObject({ event: 'reply', data: [1, 2] });
    const b = await cli(['call', s.address, 'not json\ttabbed', '--codec', 'bytes', ...tls.client]);
    expect([b.stdout, b.code]).toEqual(['not json\ttabbed\n', 0]);
    expect(await stopLive(s)).toBe(0);
    expect(notices(s)).toBe('');
  });

  it('reply --exec: the request on the program\'s stdin, its stdout the reply, the peer in its environment', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const s = await cliServer(['reply', row.at(), '--sh-exec',
      'read req; printf \'{"req": %s, "uid": "%s", "local": "%s"}\' "$req" "$SOCKTOOL_PEER_UID" "$SOCKTOOL_LOCAL"', ...tls.server]);
    const r = await cli(['call', s.address, '{"n": 7}', ...tls.client]);
    expect([r.stderr, r.code]).toEqual(['', 0]);
    expect(JSON.parse(r.stdout)).toEqual({ req: { n: 7 }, uid: isUnix(row) ? String(process.getuid!()) : '', local: s.address });
    expect(r.stdout.endsWith('}\n')).toBe(true);
    expect(await stopLive(s)).toBe(0);
  });

  it('an error reply is exit 7 with one line naming it; a program that prints no JSON is one too', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const s = await cliServer(['reply', row.at(), '--sh-exec', 'read req; [ "$req" = \'"text"\' ] && echo plain words && exit 0; exit 3', ...tls.server]);
    const failed = await cli(['call', s.address, '"fail"', ...tls.client]);
    expect([failed.stdout, failed.code]).toEqual(['', 7]);
    expect(oneLineOf(failed)).toBe('socktool: error reply: ExecError: the program exited with status 3');
    const text = await cli(['call', s.address, '"text"', ...tls.client]);
    expect([text.stdout, text.code]).toEqual(['', 7]);
    expect(oneLineOf(text)).toBe('socktool: error reply: ExecError: the program printed no JSON: plain words');
    // --json: the error reply as the error event on stdout, with its code.
    const j = await cli(['call', s.address, '"fail"', '--json', ...tls.client]);
    expect(JSON.parse(j.stdout)).toMatchObject({ event: 'error', code: 'ERR_SOCKTOOL_REPLY_ERROR' });
    expect(j.code).toBe(7);
    expect(await stopLive(s)).toBe(0);
  });

  it('no reply within --timeout is exit 3, and the server kills the program the call gave up on, and what it started', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const pidFile = join(tempDir(), 'pid');
    // The shell waits for a child of its own: killing the shell alone would leave that sleep behind.
    const s = await cliServer(['reply', row.at(), '--sh-exec', `sleep 30 & echo $! > ${pidFile}; wait`, ...tls.server]);
    const r = await cli(['call', s.address, '1', '--timeout', '500', ...tls.client]);
    expect(r.code).toBe(3);
    expect(oneLineOf(r)).toMatch(/no reply within \d+ ms \(ETIMEDOUT\)$/);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await expect.poll(() => alive(pid), { timeout: 3000 }).toBe(false);
    expect(await stopLive(s)).toBe(0);
  });

  it('no server is exit 4, one line', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const r = await cli(['call', await row.nothing(), '1', ...tls.client]);
    expect([r.stdout, r.code]).toEqual(['', 4]);
    expect(oneLineOf(r)).toMatch(/\((ECONNREFUSED|ENOENT)\)$/);
    const sub = await cli(['subscribe', await row.nothing(), '--no-wait', ...tls.client]);
    expect([sub.stdout, sub.code]).toEqual(['', 4]);
    expect(oneLineOf(sub)).toMatch(/\((ECONNREFUSED|ENOENT)\)$/);
  });

  if (row.unix) {
    it('subscribe before its publisher: it says it waits, and gets the messages once the publisher comes', async (ctx) => {
      const tls = tlsFlags(ctx, row);
      const at = await row.nothing();
      const sub = liveCli(['subscribe', at, '--count', '1', ...tls.client]);
      await sub.waitFor(/no publisher at \S+ yet \((ECONNREFUSED|ENOENT)\): waiting for one/, undefined, 'stderr');
      const pub = liveCli(['publish', at, '--subscribers', '1', ...tls.server]);
      pub.child.stdin.end('"late"\n');
      expect(await sub.exited).toEqual({ code: 0, signal: null });
      expect(sub.stdout()).toBe('"late"\n');
      expect((await pub.exited).code).toBe(0);
    });
  }

  it('publish → subscribe: each stdin line a message, by topic prefix; publish ends at EOF once all is delivered', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const pub = liveCli(['publish', row.at(), '--with-topic', '--subscribers', '2', ...tls.server]);
    const [, addr] = await pub.waitFor(/^listening on (\S+)\n/, undefined, 'stderr');
    const weather = liveCli(['subscribe', addr!, 'weather.', '--with-topic', '--count', '2', ...tls.client]);
    const all = liveCli(['subscribe', addr!, '--json', '--count', '3', ...tls.client]);
    pub.child.stdin.end('weather.paris {"celsius": 12}\nsport.final "2-1"\nweather.oslo -3\n');
    expect(await pub.exited).toEqual({ code: 0, signal: null });
    expect(await weather.exited).toEqual({ code: 0, signal: null });
    expect(weather.stdout()).toBe('weather.paris {"celsius":12}\nweather.oslo -3\n');
    expect((await all.exited).code).toBe(0);
    const events = all.stdout().trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(['subscribed', 'message', 'message', 'message']);
    expect(events.slice(1).map((e) => [e.topic, e.data])).toEqual([['weather.paris', { celsius: 12 }], ['sport.final', '2-1'], ['weather.oslo', -3]]);
    expect(pub.stderr()).toMatch(/^listening on \S+\n$/);
  });

  it('publish TOPIC --codec bytes: lines as they are, to a subscriber of that topic', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const pub = liveCli(['publish', row.at(), 'logs.app', '--codec', 'bytes', '--subscribers', '1', ...tls.server]);
    const [, addr] = await pub.waitFor(/^listening on (\S+)\n/, undefined, 'stderr');
    const sub = liveCli(['subscribe', addr!, 'logs.', '--codec', 'bytes', '--count', '3', ...tls.client]);
    pub.child.stdin.end('not {json}\n\nlast line, no newline');
    expect((await sub.exited).code).toBe(0);
    expect(sub.stdout()).toBe('not {json}\n\nlast line, no newline\n');
    expect((await pub.exited).code).toBe(0);
  });

  it('subscribe --timeout: no message that long is exit 3', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const pub = await cliServer(['publish', row.at(), ...tls.server]);
    const r = await cli(['subscribe', pub.address, '--timeout', '400', ...tls.client]);
    expect([r.stdout, r.code]).toEqual(['', 3]);
    expect(oneLineOf(r)).toMatch(/\(ETIMEDOUT\)$/);
    expect(await stopLive(pub)).toBe(0);
  });
});

describe.for(ROWS.filter((r) => !['udp', 'unixgram'].includes(r.name)))('channel commands with --authkey-file on $name', (row) => {
  /** Key files: the server's (written as `echo sesame > key` writes it), the same key without a newline, another. */
  function keys(): { key: string; same: string; other: string } {
    const dir = tempDir();
    const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
    return { key: file('key', 'sesame\n'), same: file('same', 'sesame'), other: file('other', 'open sesame\n') };
  }

  it('call → reply: answered with the key; the wrong key or none is exit 5, one line', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const k = keys();
    const s = await cliServer(['reply', row.at(), '--echo', '--authkey-file', k.key, ...tls.server]);
    const r = await cli(['call', s.address, '{"n": 1}', '--authkey-file', k.same, ...tls.client]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '{"n":1}\n', '']);
    const wrong = await cli(['call', s.address, '1', '--authkey-file', k.other, ...tls.client]);
    expect([wrong.code, wrong.stdout]).toEqual([5, '']);
    expect(oneLineOf(wrong)).toMatch(/authkey: the peer refused our answer: the keys differ \(EACCES\)$/);
    const none = await cli(['call', s.address, '1', ...tls.client]);
    expect(none.code).toBe(5);
    // The address it called, and how to give a key.
    expect(oneLineOf(none)).toMatch(/^socktool: recv \w+ \S+: the peer asks for an authkey, and this side has none \(.*--authkey-file.*\) \(EACCES\)$/);
    expect(await stopLive(s)).toBe(0);
  });

  it('call with a key toward a replier without one: --timeout bounds the handshake too, and the message asks whether the peer uses an authkey', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const s = await cliServer(['reply', row.at(), '--echo', ...tls.server]);
    const r = await cli(['call', s.address, '1', '--authkey-file', keys().key, '--timeout', '1500', ...tls.client]);
    expect(r.code).toBe(3);
    // The deadline's message, not the handshake's own 10 s bound ("no handshake within 10000 ms").
    expect(oneLineOf(r)).toMatch(/authkey: the handshake did not finish in time \(does the peer use an authkey\?\) \(ETIMEDOUT\)$/);
    expect(await stopLive(s)).toBe(0);
  });

  it('publish → subscribe: delivered with the key; a subscriber with another key is exit 5', async (ctx) => {
    const tls = tlsFlags(ctx, row);
    const k = keys();
    const pub = liveCli(['publish', row.at(), 'news', '--subscribers', '1', '--authkey-file', k.key, ...tls.server]);
    const [, addr] = await pub.waitFor(/^listening on (\S+)\n/, undefined, 'stderr');
    const wrong = await cli(['subscribe', addr!, '--authkey-file', k.other, ...tls.client]);
    expect(wrong.code).toBe(5);
    expect(oneLineOf(wrong)).toMatch(/\(EACCES\)$/);
    const sub = liveCli(['subscribe', addr!, '--count', '1', '--authkey-file', k.key, ...tls.client]);
    pub.child.stdin.end('"extra"\n');
    expect(await sub.exited).toEqual({ code: 0, signal: null });
    expect(sub.stdout()).toBe('"extra"\n');
    expect((await pub.exited).code).toBe(0);
  });
});

describe('call toward something that is no replier', () => {
  it('an echo server (it sends the request back) and an HTTP server (its answer is no frame) are named as such', async () => {
    const echo = await cliServer(['tcp-echo', '--port', '0']);
    const r = await cli(['call', echo.address, '1', '--timeout', '1000']);
    expect(r.code).toBe(3);
    expect(oneLineOf(r)).toMatch(/no reply within \d+ ms; the peer is no replier, it seems: it sent a REQUEST envelope \(an echo server sends a request back\) \(ETIMEDOUT\)$/);
    expect(await stopLive(echo)).toBe(0);
    const http = createServer((_, res) => res.end('x'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const h = await cli(['call', `tcp://127.0.0.1:${(http.address() as { port: number }).port}`, '1', '--timeout', '5000']);
      expect(h.code).toBe(1);
      expect(oneLineOf(h)).toMatch(/is a socktool replier there\? what it sent is no channel frame \(ERR_SOCKTOOL_DISCONNECTED\)$/);
    } finally {
      http.close();
    }
  });
});

describe('channel commands: input mistakes', () => {
  it('a request that is not JSON, reply without a way to answer, a TOPIC with --with-topic, --tls or an authkey on datagrams, a bad key file: exit 2, one line', async () => {
    const addr = `unix://${sockPath()}`;
    const cases: [string[], string][] = [
      [['call', addr, '{oops'], 'the request is not JSON'],
      [['reply', addr], 'reply needs one of --echo, --exec or --sh-exec'],
      [['reply', addr, '--echo', '--exec', 'cat'], 'reply needs one of --echo, --exec or --sh-exec'],
      [['publish', addr, 'news', '--with-topic'], 'a TOPIC and --with-topic: give one'],
      [['call', 'udp://127.0.0.1:9', '1', '--tls'], '--tls does not apply'],
      [['reply', 'unixgram:@x', '--echo', '--authkey-file', '/dev/null'], '--authkey-file does not apply: unixgram carries datagrams'],
      [['call', addr, '1', '--authkey-file', '/dev/null'], '--authkey-file /dev/null is empty: a key is needed'],
      [['subscribe', addr, '--authkey-file', sockPath('none')], 'cannot read --authkey-file'],
      [['subscribe', addr, '--codec', 'xml'], "argument 'xml' is invalid"],
    ];
    for (const [args, why] of cases) {
      const r = await cli(args);
      expect([args, r.code, r.stdout]).toEqual([args, 2, '']);
      expect(oneLineOf(r)).toContain(why);
    }
  });

  it('publish skips a line that is not JSON (told on stderr, with --codec bytes named), delivers the rest, and exits 1', async () => {
    const pub = liveCli(['publish', `unix:@${abstractName()}`, '--subscribers', '1']);
    const [, addr] = await pub.waitFor(/^listening on (\S+)\n/, undefined, 'stderr');
    const sub = liveCli(['subscribe', addr!, '--count', '2']);
    pub.child.stdin.end('1\nnot json\n\n"three"\n');
    expect((await sub.exited).code).toBe(0);
    expect(sub.stdout()).toBe('1\n"three"\n');
    expect((await pub.exited).code).toBe(1);
    // The way out is named: --codec bytes.
    expect(notices(pub)).toMatch(/^socktool: line 2 is not JSON \([^\n]*\): not published \(--codec bytes publishes lines as they are\)\nsocktool: 1 line was not JSON and not published \(--codec bytes publishes lines as they are\)\n$/);
  });

  it('a request file on stdin over 16 MiB is refused before any connect', async () => {
    const big = join(tempDir(), 'big.json');
    writeFileSync(big, Buffer.alloc(16 * 1024 * 1024 + 1, 0x20));
    const r = await cli(['call', `unix://${sockPath()}`], readFileSync(big));
    expect(r.code).toBe(2);
    expect(oneLineOf(r)).toContain('over 16777216 bytes');
  });
});
