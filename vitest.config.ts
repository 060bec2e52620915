import { defineConfig } from 'vitest/config';

// .ci/run sets SOCKTOOL_REPORT to collect a JSON report for its pass/fail count.
const report = process.env.SOCKTOOL_REPORT;

export default defineConfig({
  test: {
    // test/package/ runs on its own (npm run test:package): it packs the project, rewriting prebuilds/ and build/.
    include: ['test/*.test.ts'],
    // Files run side by side: they share nothing (their own ports, from port 0 or held; their own paths and
    // names), and most of their time is spent waiting on other processes, so more files than cores.
    maxWorkers: 4,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: ['default', './test/skip-summary.ts', ...(report ? ['json'] : [])],
    outputFile: report ? { json: report } : undefined,
  },
});
