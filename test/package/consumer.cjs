// A CommonJS user of socktool on Node 20: require() of the ESM package (Node >= 20.19), and import() (any 20.x).
const { constants, formatAddress, parseAddress } = require('socktool');
const bsd = require('socktool/bsd');

import('socktool').then((esm) => {
  console.log(JSON.stringify({
    required: formatAddress(parseAddress('tcp://[::1]:80')),
    sameModule: esm.parseAddress === parseAddress,
    AF_UNIX: constants.AF_UNIX,
    bsdSocket: typeof bsd.socket,
  }));
});
