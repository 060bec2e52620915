// Publishes each stdin line "TOPIC TEXT" to the subscribers of a prefix of TOPIC, and says to how many.
//   npx tsx examples/news_publisher.ts udp://127.0.0.1:7000     (prints "listening <address>" first)
import { createInterface } from 'node:readline';
import { formatAddress } from 'socktool';
import { publisher } from 'socktool/channel';

const news = await publisher<string>(process.argv[2]!);
console.log('listening', formatAddress(news.addr));
for await (const line of createInterface({ input: process.stdin })) {
  const [topic, ...words] = line.split(' ');
  console.log('sent to', await news.publish(topic!, words.join(' ')));
}
await news.close();
