import { ownSuite } from '../own-suite.js';

// npm run test:package: the packed tarball installed into fresh projects (see package.test.ts).
export default ownSuite('package', { testTimeout: 180_000, hookTimeout: 300_000 });
