// The native addon is loaded when first needed: without it, socktool imports, TCP and unix streams work, and each
// feature that needs it fails with one clear NetError (ERR_SOCKTOOL_ADDON_UNAVAILABLE); the CLI says so in one line.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonStatus, constants } from '../src/index.js';
import { consts } from '../src/native/index.js';
import { BIN, closedPort, needs, oneLineOf, ROOT, run, type Ran } from './helpers.js';

/** An empty directory for node-gyp-build's `SOCKTOOL_PREBUILD`: no build and no prebuild there. */
const NOWHERE = mkdtempSync(join(tmpdir(), 'stt-noaddon-'));

/** Runs node with `args` on a machine whose socktool has no addon. */
const withoutAddon = (args: string[]): Promise<Ran> =>
  run(process.execPath, args, undefined, 15_000, { SOCKTOOL_PREBUILD: NOWHERE });

describe('without the addon', () => {
  it('tcp, unix streams and socktool/bsd on TCP work; every addon feature fails with ERR_SOCKTOOL_ADDON_UNAVAILABLE', async () => {
    const r = await withoutAddon([join(ROOT, 'test', 'programs', 'without_addon.mjs')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { works, fails, status } = JSON.parse(r.stdout);
    expect(works).toEqual({ tcp: 'ping', unix: 'ping', bsdTcp: true });
    expect(status).toEqual({ available: false, reason: expect.stringMatching(/^not built for linux-\w+ (glibc|musl)$/),
      advice: 'build it with "npx socktool build-addon" (needs python3, make and a C compiler)', source: join(ROOT, 'src', 'native') });
    const ops: Record<string, string> = {
      udp: 'bind', unixgram: 'bind', unixgramClient: 'bind', unixpacket: 'listen', unixpacketDial: 'dial',
      abstract: 'listen', serveUdp: 'bind', reusePort: 'listen', setOption: 'option', getOption: 'option',
      peerCredentials: 'option', sendFds: 'write', bsdUnixgram: 'bind',
    };
    for (const [name, op] of Object.entries(ops)) {
      expect(fails[name], name).toMatchObject({ code: 'ERR_SOCKTOOL_ADDON_UNAVAILABLE', op });
      expect(fails[name].message, name).toMatch(/needs socktool's native addon \(not built for .*\): build it with "npx socktool build-addon"/);
    }
    expect(Object.keys(fails).sort()).toEqual(Object.keys(ops).sort());
  });

  it('the CLI: a udp server exits 6 with one line saying how to build the addon; a tcp server runs', async () => {
    const udp = await withoutAddon([BIN, 'udp-echo', '--port', '0']);
    expect(udp.code).toBe(6);
    expect(oneLineOf(udp)).toMatch(/^socktool: bind udp 127\.0\.0\.1:0: needs socktool's native addon .*"npx socktool build-addon".*\(ERR_SOCKTOOL_ADDON_UNAVAILABLE\)$/);
    expect(udp.stdout).toBe('');

    const tcp = await withoutAddon([BIN, 'send', `tcp://127.0.0.1:${closedPort()}`, 'x']);
    expect(tcp.code).toBe(4); // refused: TCP got as far as the kernel
    oneLineOf(tcp);
  });

  it('caps reports the addon missing and what still works', async () => {
    const r = await withoutAddon([BIN, 'caps', '--json']);
    expect(r.code).toBe(0);
    const caps = JSON.parse(r.stdout);
    expect(caps.addon).toMatchObject({ available: false, reason: expect.stringMatching(/^not built for/) });
    expect(caps.networks).toMatchObject({ tcp4: true, unix: true, udp4: false, unixgram: false, unixpacket: false });
    expect(caps.reasons.unixgram).toBe('ERR_SOCKTOOL_ADDON_UNAVAILABLE');
    const human = await withoutAddon([BIN, 'caps']);
    expect(human.stdout).toMatch(/^addon +native +no \(not built for linux-\w+ \w+\): build it with "npx socktool build-addon" \(needs python3, make and a C compiler\)$/m);
  });
});

describe('with the addon', () => {
  it('is found by node-gyp-build (a local build or this platform\'s prebuild)', () => {
    const status = addonStatus();
    expect(status).toMatchObject({ available: true });
    expect((status as { path: string }).path).toMatch(/(build\/Release|prebuilds\/linux-\w+)\/socktool(\.\w+)?\.node$/);
  });

  it('takes OpenSSL from the runtime only as weak references, so it loads where the runtime exports none (Deno)', async (ctx) => {
    needs(ctx, 'nm');
    const status = addonStatus();
    if (!status.available) throw new Error(status.reason);
    const r = await run('nm', ['-D', '--undefined-only', status.path]);
    expect(r.code, r.stderr).toBe(0);
    const symbols = r.stdout.split('\n').map((line) => line.trim().split(/\s+/)).filter((f) => f.length === 2);
    const openssl = /^(SSL|BIO|ERR|EVP|PEM|X509|TLS|OPENSSL|CRYPTO)_/;
    // A new OpenSSL call left out of OPENSSL_CALLS (loadgen.c) shows here as a strong reference: Deno would die
    // at it in the dynamic linker.
    expect(symbols.filter(([kind, name]) => kind === 'U' && openssl.test(name!))).toEqual([]);
    expect(symbols.filter(([kind, name]) => kind === 'w' && openssl.test(name!)).length).toBeGreaterThan(30);
  });

  it('the exported constants (a TypeScript table, so that import needs no addon) equal the C headers\' values', () => {
    expect(Object.keys(constants).length).toBeGreaterThan(40);
    for (const [name, value] of Object.entries(constants)) expect([name, consts[name]]).toEqual([name, value]);
  });
});
