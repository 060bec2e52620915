// docs/lab.md's stories, run as printed: each shell block in an empty directory, with `socktool` this clone's CLI,
// and what it prints compared with the text block after it.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, needs, ROOT, run, tempDir } from './helpers.js';

const page = readFileSync(join(ROOT, 'docs', 'lab.md'), 'utf8');
const stories = [...page.matchAll(/^## (.+)\n[^]*?^```sh\n([^]*?)^```\n\n^```text\n([^]*?)^```$/gm)]
  .map((m) => ({ title: m[1]!, script: m[2]!, expected: m[3]! }));

describe('docs/lab.md', () => {
  it('has its four stories, each a script and what it prints', () => {
    expect(stories.map((s) => s.title)).toEqual(['An HTTP API behind a unix socket', 'A datagram logger', 'A flaky link',
      'A service under a steady load']);
  });

  it.for(stories)('$title: prints what the page shows', { timeout: 120_000 }, async (story, ctx) => {
    needs(ctx, 'tshark', 'curl', 'jq', 'logger');
    const bin = tempDir();
    writeFileSync(join(bin, 'socktool'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(join(bin, 'socktool'), 0o755);
    const dir = tempDir();
    // What the story started in the background goes when it ends, whichever way.
    const r = await run('bash', ['-e', '-c', `trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\ncd "$1"\n${story.script}`, 'bash', dir], undefined, 110_000,
      { PATH: `${bin}:${process.env.PATH}` });
    expect([r.code, r.stdout], `what the story printed on stderr:\n${r.stderr}`).toEqual([0, story.expected]);
  });
});
