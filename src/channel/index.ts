/// <reference types="node" preserve="true" />
/**
 * socktool/channel: messages, requests and subscriptions over any socktool address. The same code runs over
 * tcp, unix, unixpacket, udp and unixgram (and TLS, and inherited sockets) by changing the address string.
 *
 * @example
 * const server = await replier('unix:///tmp/calc.sock', ({ a, b }) => ({ sum: a + b }))
 * const client = await requester('unix:///tmp/calc.sock')
 * console.log(await client.request({ a: 1, b: 2 }, { timeout: 1000 }))   // { sum: 3 }
 *
 * @packageDocumentation
 */
import type { Address } from '../core/address.js';
import { Channel, type CodecOptions } from './message.js';
import type { ChannelDialOptions, ChannelListenOptions } from './endpoint.js';
import { Replier, Requester, type ReplierOptions, type RequesterOptions, type RequestHandler } from './request.js';
import { Publisher, Subscriber, type PublisherOptions, type SubscriberOptions } from './pubsub.js';

export { Channel, type CodecOptions, type Message, type SendOptions } from './message.js';
export { Replier, Requester, ReplyError, type ErrorReply, type ReplierOptions, type RequestContext, type RequesterOptions,
  type RequestHandler, type RequestOptions } from './request.js';
export { Publisher, Subscriber, type Publication, type PublisherOptions, type SubscriberOptions } from './pubsub.js';
export type { ChannelEvents } from './base.js';
export type { Codec, CodecName } from './codec.js';
export type { ChannelDialOptions, ChannelListenOptions, ChannelOptions, HeartbeatOptions, ReconnectOptions, RetryEvent } from './endpoint.js';
export type { HighWater, Policy } from './outbox.js';
export type { ChannelPeer } from './pipe.js';
export { DEFAULT_MAX_MESSAGE } from './frame.js';

/**
 * Listens for plain messages (pair/push): iterate for what peers send, `send()` to all of them.
 *
 * @example
 * const inbox = await listenChannel('unixgram:///tmp/log.sock', { codec: 'bytes' })
 * for await (const { data, peer } of inbox) console.log(peer.uid, data.toString())
 */
export function listenChannel<T = unknown>(addr: Address | string, options: ChannelListenOptions & CodecOptions = {}): Promise<Channel<T>> {
  return Channel.open<T>('listen', addr, options);
}

/**
 * Dials a channel of plain messages; it reconnects by itself, and what is sent meanwhile waits in its queue.
 *
 * @example
 * const log = await dialChannel('unixgram:///tmp/log.sock', { codec: 'bytes' })
 * await log.send('started')
 */
export function dialChannel<T = unknown>(addr: Address | string, options: ChannelDialOptions & CodecOptions = {}): Promise<Channel<T>> {
  return Channel.open<T>('dial', addr, options);
}

/**
 * Serves requests on `addr`: the handler's return value is the reply, its throw an error reply.
 *
 * @example
 * await replier('tcp://127.0.0.1:7000', async (req, { peer, signal }) => lookup(req.key, { signal }))
 */
export function replier<Req = any, Rep = any>(addr: Address | string, handler: RequestHandler<Req, Rep>,
  options: ReplierOptions = {}): Promise<Replier<Req, Rep>> {
  return Replier.open(addr, handler, options);
}

/**
 * Dials a replier: `request()` many times at once, each resolving with its own reply.
 *
 * @example
 * const calc = await requester('unixpacket:///tmp/calc.sock')
 * const [a, b] = await Promise.all([calc.request({ a: 1, b: 2 }), calc.request({ a: 3, b: 4 }, { timeout: 500 })])
 */
export function requester<Req = any, Rep = any>(addr: Address | string, options: RequesterOptions = {}): Promise<Requester<Req, Rep>> {
  return Requester.open<Req, Rep>(addr, options);
}

/**
 * Listens for subscribers and publishes to them by topic.
 *
 * @example
 * const news = await publisher('unix:@news')
 * await news.publish('weather.paris', { celsius: 12 })
 */
export function publisher<T = unknown>(addr: Address | string, options: PublisherOptions = {}): Promise<Publisher<T>> {
  return Publisher.open<T>(addr, options);
}

/**
 * Dials a publisher and subscribes to `topics` (prefixes; '' for everything); resolves once subscribed.
 *
 * @example
 * for await (const { topic, data } of await subscriber('unix:@news', 'weather.')) console.log(topic, data)
 */
export function subscriber<T = unknown>(addr: Address | string, topics: string | readonly string[] = [],
  options: SubscriberOptions = {}): Promise<Subscriber<T>> {
  return Subscriber.open<T>(addr, typeof topics === 'string' ? [topics] : topics, options);
}
