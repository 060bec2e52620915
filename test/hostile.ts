// Hostile peers for the tests of the budget (limits.test.ts, stress/hostile.test.ts): test/peers/hostile.py driven
// from a test, the healthy client served beside them, and a wait for a condition.
import { join } from 'node:path';
import { expect } from 'vitest';
import { requester, type Requester } from '../src/channel/index.js';
import type { Address } from '../src/index.js';
import { live, PEERS, until, type Live } from './helpers.js';

/** How hostile.py names an address. */
export function pyTarget(a: Address): string[] {
  if ('port' in a) return ['tcp', a.host, String(a.port)];
  const where = a.abstract ? `@${a.path}` : a.path;
  return [a.network === 'unixpacket' ? 'unixpacket' : 'unix', where];
}

export interface Hostile extends Live {
  ready: Record<string, number | boolean>;
  /** Closes its stdin: the peers close; resolves with its last report. */
  finish(): Promise<Record<string, number | boolean>>;
  /** How many of its connections the server has closed so far. */
  closedByServer(): Promise<number>;
}

/** test/peers/hostile.py MODE against `a`, once it has done what it could. */
export async function hostile(mode: string, a: Address, ...args: number[]): Promise<Hostile> {
  const p = live('python3', [join(PEERS, 'hostile.py'), mode, ...pyTarget(a), ...args.map(String)]);
  const m = await Promise.race([
    p.waitFor(/^(\{"ready".*\})\n/, 120_000),
    p.exited.then(() => { throw new Error(`hostile.py ${mode} exited: ${p.stderr()}`); }),
  ]);
  return {
    ...p,
    ready: JSON.parse(m[1]!),
    closedByServer: async () => {
      const answers = () => p.stdout().match(/^\{"closed_by_server": \d+\}$/gm) ?? [];
      const before = answers().length;
      p.child.stdin.write('\n');
      await until(() => answers().length > before, 'hostile.py to count', 60_000);
      return Number(/\d+/.exec(answers().at(-1)!)![0]);
    },
    finish: async () => {
      p.child.stdin.end();
      const done = await p.waitFor(/^(\{"done".*\})\n/m, 60_000);
      return JSON.parse(done[1]!);
    },
  };
}

/** A requester (from `local`, if given) whose round trip has been checked: the healthy client beside hostile peers. */
export async function healthyRequester(address: string, { local, timeout = 20_000 }: { local?: string; timeout?: number } = {}): Promise<Requester> {
  const r = await requester(address, { codec: 'bytes', local, onError: () => {} });
  expect((await r.request(Buffer.from('healthy'), { timeout })).toString()).toBe('healthy');
  return r;
}
