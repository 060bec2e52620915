// A socket file's rights (--mode, --owner, --group; the library's mode/owner/group): who can connect, shown
// with real clients running as nobody, and that the file never exists looser than asked.
import { existsSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listen, bind } from '../src/index.js';
import { rowsWhere } from './rows.js';
import { accessClient, cli, cliServer, live, needsRoot, oneLineOf, openDir, stopLive, tempDir } from './helpers.js';

const asNobody = (kind: string, path: string) => accessClient('nobody', kind, path);

/** Every unix network, on a path (the rights are a socket file's). */
const UNIX = rowsWhere((r) => r.unix && !r.abstract).map((r) => r.network);

describe.each(UNIX)('%s', (network) => {
  it('nobody is refused for 0600 and for 0660 of another group, admitted for 0666 and for 0660 with its group', async (ctx) => {
    needsRoot(ctx);
    const dir = openDir();
    const cases: [string[], string][] = [
      [['--mode', '0600'], 'refused EACCES'],
      [['--mode', '0660', '--group', 'root'], 'refused EACCES'],
      [['--mode', '0666'], 'ok hi'],
      [['--mode', '0660', '--group', 'nogroup'], 'ok hi'],
      [['--mode', '0600', '--owner', 'nobody'], 'ok hi'],
    ];
    for (const [flags, expected] of cases) {
      const path = join(dir, `s-${flags.join('')}.sock`);
      const s = await cliServer(['serve', `${network}://${path}`, ...flags]);
      const st = lstatSync(path);
      expect((st.mode & 0o777).toString(8)).toBe(flags[1]!.slice(1));
      expect([flags.join(' '), await asNobody(network, path)]).toEqual([flags.join(' '), expected]);
      expect(await stopLive(s)).toBe(0);
      expect(existsSync(path)).toBe(false);
    }
  });
});

describe('socket file rights', () => {
  it('a file made with rights asked never exists looser, watched by a prober through 200 binds of each kind', async (ctx) => {
    needsRoot(ctx);
    const dir = openDir();
    const path = join(dir, 'watched.sock');
    const stop = join(dir, 'stop');
    // Polls the path as fast as it can and reports every mode it saw.
    const prober = live('python3', ['-c', `
import json, os, stat, sys
seen, looks = set(), 0
while not os.path.exists(${JSON.stringify(stop)}):
    try:
        seen.add(oct(stat.S_IMODE(os.lstat(${JSON.stringify(path)}).st_mode)))
        looks += 1
    except FileNotFoundError:
        pass
print(json.dumps({"seen": sorted(seen), "looks": looks}))
`]);
    for (let i = 0; i < 200; i++) {
      const l = await listen(`unix://${path}`, { mode: 0o600 });
      await l.close();
      const p = await listen(`unixpacket://${path}`, { mode: 0o600 });
      await p.close();
      const g = await bind(`unixgram://${path}`, { mode: 0o600 });
      await g.close();
    }
    writeFileSync(stop, '');
    await prober.exited;
    const { seen, looks } = JSON.parse(prober.stdout()) as { seen: string[]; looks: number };
    expect(looks).toBeGreaterThan(0);
    expect(seen).toEqual(['0o600']);
  });

  it('rights for an address with no file, or an unknown owner, are refused before anything is bound', async () => {
    const r = await cli(['serve', 'tcp://127.0.0.1:0', '--mode', '0600']);
    expect(r.code).toBe(2);
    expect(oneLineOf(r)).toMatch(/--mode does not apply: tcp:\/\/127\.0\.0\.1:0 has no socket file/);
    const abstract = await cli(['listen', 'unix:@somewhere', '--group', 'nogroup']);
    expect(oneLineOf(abstract)).toMatch(/--group does not apply: unix:@somewhere has no socket file/);
    const bad = await cli(['serve', 'unix:///tmp/never.sock', '--mode', '999']);
    expect([bad.code, oneLineOf(bad)]).toEqual([2, expect.stringMatching(/expected permission bits in octal/)]);
    const path = join(tempDir(), 'x.sock');
    const who = await cli(['serve', `unix://${path}`, '--owner', 'no-such-user-here']);
    expect(oneLineOf(who)).toMatch(/no user named "no-such-user-here" in \/etc\/passwd \(EINVAL\)/);
    expect(existsSync(path)).toBe(false);
  });
});
