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

  it('the CLI, the BSD facade, the relay and the channels use the public API only; adapters never import each other', () => {
    const offending: string[] = [];
    for (const [file, deps] of graph) {
      const top = file.split('/')[0]!;
      for (const d of deps) {
        const dtop = d.split('/')[0]!;
        // The package's entries: socktool (index.ts) and, for the CLI's channel commands, socktool/channel.
        const publicEntry = d === 'index.ts' || (top === 'cli' && d === 'channel/index.ts');
        if ((top === 'cli' || top === 'bsd') && dtop !== top && !publicEntry) offending.push(`${file} -> ${d}`);
        // api.ts and inherited.ts are the public API's modules (the relay takes fd: addresses as serve() does).
        if (file === 'relay.ts' && d !== 'api.ts' && d !== 'inherited.ts' && dtop !== 'core') offending.push(`${file} -> ${d}`);
        if (['tcp', 'udp', 'unix'].includes(top) && ['tcp', 'udp', 'unix'].includes(dtop) && dtop !== top) offending.push(`${file} -> ${d}`);
        if (top === 'core' && dtop !== 'core') offending.push(`${file} -> ${d}`);
        // Channels sit on the public API, as the relay does; unix/stream.ts lends them its native reading (descriptors).
        if (top === 'channel' && !['channel', 'core'].includes(dtop) && !['api.ts', 'inherited.ts', 'unix/stream.ts'].includes(d)) offending.push(`${file} -> ${d}`);
      }
    }
    expect(offending).toEqual([]);
  });
});
