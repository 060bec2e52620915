import { defineConfig } from 'vitest/config';

// .ci/run sets SOCKTOOL_REPORT to collect a JSON report for its pass/fail count.
const report = process.env.SOCKTOOL_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: report ? ['default', 'json'] : ['default'],
    outputFile: report ? { json: report } : undefined,
  },
});
