import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends the run with each skipped test and why (the program it lacked and the Debian package that provides it),
 * then the count per reason, so that a green run on a machine without socat or nc says what it did not test.
 */
export default class SkipSummary implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    const counts = new Map<string, number>();
    for (const module of modules) {
      for (const test of module.children.allTests('skipped')) {
        const result = test.result();
        const note = (result.state === 'skipped' && result.note) || 'skipped without a reason';
        lines.push(`  ↓ ${relative(process.cwd(), module.moduleId)} > ${test.fullName}: ${note}`);
        counts.set(note, (counts.get(note) ?? 0) + 1);
      }
    }
    if (lines.length === 0) return;
    const plural = lines.length === 1 ? '' : 's';
    const byReason = [...counts].map(([note, n]) => `  ${String(n).padStart(3)}  ${note}`);
    process.stdout.write(`\nSkipped ${lines.length} test${plural}:\n${lines.join('\n')}\n${byReason.join('\n')}\n` +
      'Install those packages to run them (.ci/run does, and sets SOCKTOOL_REQUIRE_ALL=1 so that none may skip).\n');
  }
}
