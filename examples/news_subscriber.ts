// Subscribes to topics starting with PREFIX and prints COUNT of them as "topic: text".
//   npx tsx examples/news_subscriber.ts udp://127.0.0.1:7000 weather. 2     (prints "subscribed" first)
import { subscriber } from 'socktool/channel';

const [addr, prefix, count] = process.argv.slice(2);
const news = await subscriber<string>(addr!, prefix!);
console.log('subscribed');
let left = Number(count);
for await (const { topic, data } of news) {
  console.log(`${topic}: ${data}`);
  if (--left === 0) break;
}
await news.close();
