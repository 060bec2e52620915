import { defineConfig } from 'vitest/config';

/**
 * The config of a suite that runs on its own rather than in `npm test` (test:stress, test:package): the files of
 * test/<dir>/, one at a time (their loads and packing must not share the machine), with the skip summary.
 */
export const ownSuite = (dir: string, timeouts: { testTimeout: number; hookTimeout: number }) => defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: [`test/${dir}/*.test.ts`],
    ...timeouts,
    fileParallelism: false,
    reporters: ['default', './test/skip-summary.ts'],
  },
});
