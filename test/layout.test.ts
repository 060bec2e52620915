// The layering of DESIGN.md, checked on the source: imports point down only, and nothing imports in a circle.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Each source file (relative to src/, as .ts) and the source files it imports. */
const graph = new Map(sources(SRC).map((file) => {
  const text = readFileSync(file, 'utf8');
  // Type-only imports are erased before anything runs: they cannot make a cycle.
  const deps = [...text.matchAll(/^(?:import(?! type)|export(?! type))[^'"]*from '(\.[^']+)\.js'/gm)]
    .map((m) => relative(SRC, normalize(join(dirname(file), `${m[1]}.ts`))));
  return [relative(SRC, file), deps] as const;
}));

describe('source layout', () => {
  it('has no import cycles', () => {
    const cycles: string[] = [];
    const done = new Set<string>();
    const visit = (f: string, path: string[]) => {
      if (path.includes(f)) return void cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      if (done.has(f)) return;
      for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
      done.add(f);
    };
    for (const f of graph.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });

  // DESIGN.md §2: services and facades sit on the public API and core's building blocks; only api.ts reaches the
  // adapters, and only through their entry modules (the dispatch table); adapters never import each other.
  it('channels, the relay, the CLI and the BSD facade import only the public API and core; api.ts reaches adapters only by their entries; adapters never import each other; core imports only core', () => {
    const ADAPTERS = ['tcp', 'udp', 'unix'];
    const ENTRIES = ['tcp/index.ts', 'udp/index.ts', 'unix/index.ts'];
    const PUBLIC = ['index.ts', 'api.ts'];
    const offending: string[] = [];
    for (const [file, deps] of graph) {
      const top = file.includes('/') ? file.split('/')[0]! : file;
      for (const d of deps) {
        const dtop = d.includes('/') ? d.split('/')[0]! : d;
        const above = ['channel', 'cli', 'bsd', 'relay.ts', 'tap.ts'].includes(top);
        // The CLI's channel commands use the package's other entry, socktool/channel.
        // tap is a relay put in a live socket's place: the one service built on another.
        const allowed = dtop === top || PUBLIC.includes(d) || dtop === 'core' || (top === 'cli' && d === 'channel/index.ts')
          || (top === 'tap.ts' && d === 'relay.ts');
        if (above && !allowed) offending.push(`${file} -> ${d}`);
        if (file === 'api.ts' && ADAPTERS.includes(dtop) && !ENTRIES.includes(d)) offending.push(`${file} -> ${d}`);
        if (ADAPTERS.includes(top) && dtop !== top && (ADAPTERS.includes(dtop) || PUBLIC.includes(d) || d === 'inherited.ts')) offending.push(`${file} -> ${d}`);
        if (top === 'core' && dtop !== 'core') offending.push(`${file} -> ${d}`);
      }
    }
    expect(offending).toEqual([]);
  });
});
