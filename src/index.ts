/// <reference types="node" preserve="true" />
/**
 * socktool: BSD sockets for Node.js behind one interface. Every entry point takes an address in one grammar
 * (`tcp://127.0.0.1:8000`, `udp://[::1]:9999`, `unix:///tmp/app.sock`), so code swaps transports by changing
 * one string.
 *
 * @packageDocumentation
 */
export * from './api.js';
export { relay, type RelayEvent, type RelayOptions, type RelayServer } from './relay.js';
export { tap, type Tap } from './tap.js';
export { CHART_COLOURS, hgrmSeries, latencyChart, latencySeries, readPercentileDistribution, type LatencySeries } from './chart.js';
export type { ImpairedCounts, Impairment, Impairments } from './core/impair.js';
export { PcapWriter, type Conversation, type PcapOptions } from './core/pcap.js';
export { notify, notifyMessage, notifySocket, type NotifyState } from './notify.js';
export {
  latencyAt, loadShape, loadTest, PERCENTILES, percentileDistribution, type Latency, type LoadMode, type LoadOptions, type LoadSample, type LoadSummary,
} from './load.js';
