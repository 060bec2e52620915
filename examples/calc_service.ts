// A JSON request/reply service on any address: answers {a, b} with their sum, and who asked (uid on unix).
//   npx tsx examples/calc_service.ts unix:///tmp/calc.sock     (prints "listening <address>"; runs until killed)
import { formatAddress } from 'socktool';
import { replier } from 'socktool/channel';

const server = await replier(process.argv[2]!, ({ a, b }: { a: number; b: number }, { peer }) => {
  if (typeof a !== 'number' || typeof b !== 'number') throw new TypeError('a and b must be numbers');
  return { sum: a + b, uid: peer.uid ?? null };
});
console.log('listening', formatAddress(server.addr));
