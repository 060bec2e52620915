import { ownSuite } from '../own-suite.js';

// npm run test:stress: load, faults and memory plateaus, bounded in time (a few minutes on 2 cores); .ci/run runs it.
export default ownSuite('stress', { testTimeout: 180_000, hookTimeout: 60_000 });
