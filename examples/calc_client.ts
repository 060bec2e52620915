// Its client: one request, the reply printed as JSON. The same code on every transport: only the address changes.
//   npx tsx examples/calc_client.ts unix:///tmp/calc.sock 1 2       (prints {"sum":3,"uid":1000})
import { requester } from 'socktool/channel';

const [addr, a, b] = process.argv.slice(2);
const calc = await requester(addr!);
try {
  console.log(JSON.stringify(await calc.request({ a: Number(a), b: Number(b) }, { timeout: 2000 })));
} finally {
  await calc.close();
}
