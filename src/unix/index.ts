// The AF_UNIX adapters, one file per socket type.
export { unixgram } from './gram.js';
export { unixpacket } from './packet.js';
export { unix } from './stream.js';
export { exchangeSocketFiles, unixSocketAt } from './common.js';
