import { defineConfig } from 'vitest/config';

// npm run test:package: the packed tarball installed into fresh projects (see package.test.ts).
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/package/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    reporters: ['default', './test/skip-summary.ts'],
  },
});
