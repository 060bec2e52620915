import { defineConfig } from 'vitest/config';

// npm run test:stress: load, faults and memory plateaus, bounded in time (a few minutes on 2 cores); .ci/run runs it.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/stress/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // One load at a time: the figures mean something only when the machine is not shared with another.
    fileParallelism: false,
    reporters: ['default', './test/skip-summary.ts'],
  },
});
