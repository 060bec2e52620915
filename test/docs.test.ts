// The documentation's examples, held to the code: every `socktool …` line in a shell block of the README and
// docs/ must be accepted by the CLI as written (its options, their values, its arguments and addresses), and
// the README's library and socktool/bsd examples are run as they are printed, and every TypeScript example of
// the README and docs/ type-checks against the package's published types.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.js';
import { parseAddress } from '../src/index.js';
import { BIN, cliServer, live, makeCert, needs, PEERS, ROOT, run, sockPath, stopLive, tempDir } from './helpers.js';

const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const text = (page: string) => readFileSync(join(ROOT, page), 'utf8');

/** The fenced blocks of one language in a page. */
const blocks = (page: string, lang: string): string[] =>
  [...text(page).matchAll(new RegExp(`^\`\`\`${lang}\\n([^]*?)^\`\`\`$`, 'gm'))].map((m) => m[1]!);

/** A shell line split into words as sh would (quotes, backslashes), up to a comment, pipe, redirection or `&`. */
function words(line: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + line[++i];
    } else if (c === ' ') {
      if (word !== null) out.push(word);
      word = null;
    } else if ((c === '#' && word === null) || '|><&;'.includes(c)) {
      break;
    } else word = (word ?? '') + c;
  }
  if (word !== null) out.push(word);
  return out;
}

/**
 * Every socktool command line in the shell blocks: the words after `socktool` (at the start, after a pipe or
 * `npx`, or as the program systemd-socket-activate runs).
 */
const commandLines = (page: string): string[][] => blocks(page, 'sh').flatMap((b) => b.split('\n'))
  .map((line) => /(?:^|\| *|^systemd-socket-activate .*? )(?:npx )?socktool (.*)$/.exec(line)?.[1])
  .filter((rest): rest is string => rest !== undefined)
  .map(words);

describe('the documentation', () => {
  it.each(PAGES)('%s: every socktool command line is one the CLI accepts', async (page) => {
    const lines = commandLines(page);
    if (page === 'docs/cli.md') expect(lines.length).toBeGreaterThan(40);
    for (const argv of lines) {
      const program = buildProgram();
      const errors: string[] = [];
      program.configureOutput({ writeErr: (t) => errors.push(t), writeOut: () => {}, outputError: (t) => errors.push(t) });
      for (const cmd of program.commands) {
        cmd.configureOutput({ writeErr: (t) => errors.push(t), writeOut: () => {}, outputError: (t) => errors.push(t) });
        cmd.action(() => {}); // parsed, not run
      }
      let failure: unknown;
      await program.parseAsync(argv, { from: 'user' }).catch((err: unknown) => (failure = err));
      expect({ argv, errors, failure: failure && String(failure) }).toEqual({ argv, errors: [], failure: undefined });
      // Addresses in it parse too (what the commands do first).
      for (const word of argv.filter((w) => /^(tcp|udp|unix)[a-z0-9]*:/.test(w))) expect(() => parseAddress(word)).not.toThrow();
    }
  });

  it('the README library example runs as printed', async () => {
    const [example] = blocks('README.md', 'ts').filter((b) => b.includes("from 'socktool'"));
    const path = sockPath('app.sock');
    const file = join(tempDir(), 'example.mjs');
    writeFileSync(file, example!
      .replace("from 'socktool'", `from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)}`)
      .replaceAll('/tmp/app.sock', path));
    const r = await run(process.execPath, [file]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe(`listening on unix://${path}\nping\n`);
  });

  it('the README service runs as its units say, under systemd-socket-activate: activated, ready, serving', async (ctx) => {
    needs(ctx, 'systemd-socket-activate');
    const [socket, service] = blocks('README.md', 'ini');
    const setting = (unit: string, key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)![1]!;
    expect(setting(service!, 'Type')).toBe('notify');
    const path = sockPath('app.sock');
    const notifySocket = sockPath('notify.sock');
    const manager = live('python3', ['-u', join(PEERS, 'notify_receiver.py'), notifySocket]);
    await manager.waitFor(/^ready\n/);
    // The unit's command as written, run from this checkout, with a group this machine has.
    const command = words(setting(service!, 'ExecStart').replace('/usr/bin/socktool', BIN).replace('--allow-gid app', '--allow-gid root'));
    const sa = live('systemd-socket-activate', ['-l', setting(socket!, 'ListenStream').replace('/run/app.sock', path),
      `--fdname=${setting(socket!, 'FileDescriptorName')}`, `--setenv=NOTIFY_SOCKET=${notifySocket}`, process.execPath, ...command]);
    await sa.waitFor(/Listening on .* as 3\.\n/, 8000, 'stderr');
    const r = await run('python3', [join(PEERS, 'echo_client.py'), 'unix', path, 'ping']);
    expect(r.stdout).toBe('ping\n');
    await manager.waitFor(/"READY=1\\nSTATUS=listening on unix:\/\/[^"]*app\.sock"/);
    sa.child.kill('SIGTERM');
    expect((await sa.exited).code).toBe(0);
    manager.child.kill();
  });

  it('docs/cli.md: the channel example (reply --sh-exec jq, then call) runs as printed', async (ctx) => {
    needs(ctx, 'jq');
    const [example] = blocks('docs/cli.md', 'sh').filter((b) => b.includes('socktool reply'));
    const path = sockPath('calc.sock');
    const [reply, call] = example!.split('\n').slice(0, 2).map((line) => words(line.replaceAll('/tmp/calc.sock', path)));
    expect([reply![0], call![0]]).toEqual(['socktool', 'socktool']);
    const server = await cliServer(reply!.slice(1));
    const r = await run(process.execPath, [BIN, ...call!.slice(1)]);
    expect([r.stdout, r.stderr, r.code]).toEqual(['3\n', '', 0]);
    expect(await stopLive(server)).toBe(0);
  });

  it('the README socktool/bsd example runs as printed, against socktool udp-echo', async () => {
    const [example] = blocks('README.md', 'ts').filter((b) => b.includes("from 'socktool/bsd'"));
    const echo = await cliServer(['udp-echo', '--port', '0']);
    const port = /:(\d+)$/.exec(echo.address)![1]!;
    const file = join(tempDir(), 'bsd-example.mjs');
    writeFileSync(file, example!
      .replace("from 'socktool/bsd'", `from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'bsd', 'index.js')).href)}`)
      .replaceAll('9999', port));
    const r = await run(process.execPath, [file]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe(`[ <Buffer 68 65 6c 6c 6f>, [ '127.0.0.1', ${port} ] ]\n`);
    expect(await stopLive(echo)).toBe(0);
  });

  it('every TypeScript example of the README and docs/ type-checks against the package as published', async () => {
    // Each block becomes a module inside this checkout, so that `from 'socktool'` resolves to the package itself
    // (its exports, dist/*.d.ts). A fragment's free names come from the package (the first entry point that has
    // them), `readFileSync` from node:fs, and `conn`, `listener` and `sock` are the objects the text speaks of.
    const entries = ['socktool', 'socktool/channel', 'socktool/bsd'];
    const dists = ['index.js', 'channel/index.js', 'bsd/index.js'].map((f) => pathToFileURL(join(ROOT, 'dist', f)).href);
    const exported = await Promise.all(dists.map(async (url) => new Set(Object.keys(await import(url) as object))));
    const dir = join(ROOT, `.doc-examples-${process.pid}`);
    mkdirSync(dir);
    try {
      const files: Record<string, string> = {};
      for (const page of PAGES) {
        blocks(page, 'ts').forEach((block, i) => {
          const lines = block.split('\n');
          const imports = lines.filter((l) => /^import /.test(l));
          const body = lines.filter((l) => !/^import /.test(l)).join('\n');
          const imported = new Set(imports.flatMap((l) => /\{([^}]*)\}/.exec(l)?.[1]!.split(',').map((n) => n.trim().replace(/^type /, '')) ?? []));
          const free = (name: string) => !imported.has(name) && new RegExp(`\\b${name}\\b`).test(body);
          const takes = entries.map((entry, k) => [...exported[k]!].filter((n) => free(n) && !exported.slice(0, k).some((e) => e.has(n))));
          const file = join(dir, `${page.replace(/\W/g, '_')}_${i + 1}.ts`);
          files[file] = block;
          writeFileSync(file, [
            ...imports,
            ...entries.map((entry, k) => `import * as entry${k} from '${entry}';`),
            ...(free('readFileSync') ? ["import { readFileSync } from 'node:fs';"] : []),
            "declare const conn: import('socktool').Conn, listener: import('socktool').Listener, sock: import('socktool').DatagramSocket;",
            'export async function example() {',
            ...takes.flatMap((names, k) => (names.length ? [`const { ${names.join(', ')} } = entry${k};`] : [])),
            body,
            '}',
          ].join('\n'));
        });
      }
      expect(Object.keys(files).length).toBeGreaterThan(20);
      const program = ts.createProgram(Object.keys(files), {
        target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true, noEmit: true, skipLibCheck: true, types: ['node'],
      });
      const problems = ts.getPreEmitDiagnostics(program).map((d) => {
        const where = d.file ? `${d.file.fileName.slice(dir.length + 1)}:${d.file.getLineAndCharacterOfPosition(d.start!).line + 1}` : '';
        return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('docs/library.md: the loadTest example runs as printed, against bench --serve --tls', async () => {
    const [example] = blocks('docs/library.md', 'ts').filter((b) => b.includes('loadTest('));
    const { cert, key } = makeCert();
    const path = sockPath('echo.sock');
    const server = await cliServer(['bench', '--serve', `unix://${path}`, '--tls', '--cert', cert, '--key', key]);
    const file = join(tempDir(), 'load-example.mjs');
    writeFileSync(file, `import { readFileSync } from 'node:fs';\n` +
      `import { loadTest } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)};\n` +
      example!.replaceAll('/tmp/echo.sock', path).replaceAll("'ca.pem'", JSON.stringify(cert)));
    const r = await run(process.execPath, [file], undefined, 30_000);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^[\d.]+ [\d.]+ 0\n$/); // rate, p99 (µs), corrupt
    expect(await stopLive(server)).toBe(0);
  });
});
