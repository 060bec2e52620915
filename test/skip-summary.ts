import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends the run with how many tests were skipped and why (each skip names the program it lacked and the Debian
 * package that provides it), so that a green run on a machine without socat or nc says what it did not test.
 */
export default class SkipSummary implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const reasons = new Map<string, number>();
    for (const module of modules) {
      for (const test of module.children.allTests('skipped')) {
        const result = test.result();
        const note = (result.state === 'skipped' && result.note) || 'skipped without a reason';
        reasons.set(note, (reasons.get(note) ?? 0) + 1);
      }
    }
    if (reasons.size === 0) return;
    const total = [...reasons.values()].reduce((a, b) => a + b, 0);
    const lines = [...reasons].map(([note, n]) => `  ${String(n).padStart(3)}  ${note}`);
    process.stdout.write(`\nSkipped ${total} test${total === 1 ? '' : 's'}:\n${lines.join('\n')}\n` +
      'Install those packages to run them (.ci/run does, and sets SOCKTOOL_REQUIRE_ALL=1 so that none may skip).\n');
  }
}
