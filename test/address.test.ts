import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatAddress, inetAddress, NetError, networksWhere, parseAddress, unixAddress, type Address, type InetNetwork, type UnixNetwork,
} from '../src/index.js';
import { toAddress } from '../src/core/address.js';

const long = (n: number) => 'a'.repeat(n);

// [text, parsed, canonical text (when formatting changes the spelling)]
const GOOD: [string, Address, string?][] = [
  ['tcp://127.0.0.1:8000', { network: 'tcp', host: '127.0.0.1', port: 8000 }],
  ['tcp://[::1]:8000', { network: 'tcp', host: '::1', port: 8000 }],
  ['tcp4://127.0.0.1:0', { network: 'tcp4', host: '127.0.0.1', port: 0 }],
  ['tcp6://[::1]:65535', { network: 'tcp6', host: '::1', port: 65535 }],
  ['tcp6://host:8000', { network: 'tcp6', host: 'host', port: 8000 }],
  ['tcp://localhost:80', { network: 'tcp', host: 'localhost', port: 80 }],
  ['tcp://:8080', { network: 'tcp', host: '', port: 8080 }],
  ['tcp://example.com:443', { network: 'tcp', host: 'example.com', port: 443 }],
  ['tcp://my_host-1.local:22', { network: 'tcp', host: 'my_host-1.local', port: 22 }],
  ['tcp://[fe80::1%lo]:9', { network: 'tcp', host: 'fe80::1%lo', port: 9 }],
  ['tcp://[::ffff:127.0.0.1]:1', { network: 'tcp', host: '::ffff:127.0.0.1', port: 1 }],
  ['tcp://[::]:0', { network: 'tcp', host: '::', port: 0 }],
  ['tcp://0.0.0.0:0', { network: 'tcp', host: '0.0.0.0', port: 0 }],
  ['tcp://127.0.0.1:007', { network: 'tcp', host: '127.0.0.1', port: 7 }, 'tcp://127.0.0.1:7'],
  ['udp://0.0.0.0:9999', { network: 'udp', host: '0.0.0.0', port: 9999 }],
  ['udp://:0', { network: 'udp', host: '', port: 0 }],
  ['udp4://127.0.0.1:53', { network: 'udp4', host: '127.0.0.1', port: 53 }],
  ['udp6://[::1]:53', { network: 'udp6', host: '::1', port: 53 }],
  ['udp6://[2001:db8::42]:5000', { network: 'udp6', host: '2001:db8::42', port: 5000 }],
  ['udp://[::]:9999', { network: 'udp', host: '::', port: 9999 }],
  ['unix:///tmp/app.sock', { network: 'unix', path: '/tmp/app.sock', abstract: false }],
  ['unix:/tmp/app.sock', { network: 'unix', path: '/tmp/app.sock', abstract: false }, 'unix:///tmp/app.sock'],
  ['unix:rel/app.sock', { network: 'unix', path: 'rel/app.sock', abstract: false }],
  ['unix:app.sock', { network: 'unix', path: 'app.sock', abstract: false }],
  ['unix:./app.sock', { network: 'unix', path: './app.sock', abstract: false }],
  ['unix:../up/app.sock', { network: 'unix', path: '../up/app.sock', abstract: false }],
  ['unix:///tmp/with space.sock', { network: 'unix', path: '/tmp/with space.sock', abstract: false }],
  ['unix:///tmp/100%.sock', { network: 'unix', path: '/tmp/100%.sock', abstract: false }],
  ['unix:///tmp/红烧肉.sock', { network: 'unix', path: '/tmp/红烧肉.sock', abstract: false }],
  ['unix:///tmp/a:b.sock', { network: 'unix', path: '/tmp/a:b.sock', abstract: false }],
  ['unix:@name', { network: 'unix', path: 'name', abstract: true }],
  ['unix:@with/slash', { network: 'unix', path: 'with/slash', abstract: true }],
  ['unix:./@notabstract', { network: 'unix', path: './@notabstract', abstract: false }],
  ['unix:', { network: 'unix', path: '', abstract: false }],
  ['unixgram:///tmp/x.sock', { network: 'unixgram', path: '/tmp/x.sock', abstract: false }],
  ['unixgram:@name', { network: 'unixgram', path: 'name', abstract: true }],
  ['unixgram:rel.sock', { network: 'unixgram', path: 'rel.sock', abstract: false }],
  ['unixpacket:///tmp/p.sock', { network: 'unixpacket', path: '/tmp/p.sock', abstract: false }],
  ['unixpacket:@p', { network: 'unixpacket', path: 'p', abstract: true }],
  [`unix:///${long(106)}`, { network: 'unix', path: `/${long(106)}`, abstract: false }],
  [`unix:@${long(107)}`, { network: 'unix', path: long(107), abstract: true }],
];

// [text, a word the error must name]
const BAD: [string, string][] = [
  ['', 'empty'],
  ['tcp://127.0.0.1:70000', '70000'],
  ['tcp://127.0.0.1:65536', '65536'],
  ['udp://[::1', 'unclosed'],
  ['udp://[::1]', 'port'],
  ['tcp://host', 'port'],
  ['tcp://host:', 'port'],
  ['tcp://host:http', 'http'],
  ['tcp://host:-1', '-1'],
  ['tcp://::1:80', 'brackets'],
  ['tcp://[127.0.0.1]:80', '127.0.0.1'],
  ['tcp://256.1.1.1:80', '256.1.1.1'],
  ['tcp://bad host:80', 'bad host'],
  ['tcp4://[::1]:80', 'IPv6'],
  ['udp6://127.0.0.1:80', 'IPv4'],
  ['tcp:127.0.0.1:80', '//'],
  ['127.0.0.1:80', 'did you mean tcp://127.0.0.1:80 (or udp://127.0.0.1:80)?'],
  ['[::1]:80', 'did you mean tcp://[::1]:80'],
  ['localhost:8000', 'did you mean tcp://localhost:8000'],
  ['/tmp/app.sock', 'did you mean unix:///tmp/app.sock?'],
  ['@name', 'did you mean unix:@name?'],
  ['app.sock', 'did you mean unix:app.sock?'],
  ['http://example.com:80', 'http'],
  ['sctp://127.0.0.1:1', 'sctp'],
  ['TCP://127.0.0.1:1', 'TCP'],
  ['no-scheme', 'network'],
  [':80', 'did you mean tcp://:80'],
  [`unix:///${long(200)}`, '107'],
  [`unix:${'é'.repeat(54)}`, '108 bytes'],
  [`unix:@${long(108)}`, '107'],
  ['unix://relative.sock', 'absolute'],
  ['unix://', 'absolute'],
  ['unix:@', 'abstract'],
  ['unix:/tmp/nul\0.sock', 'NUL'],
];

describe('parseAddress / formatAddress', () => {
  it.each(GOOD)('%s parses and round-trips', (text, parsed, canonical) => {
    const a = parseAddress(text);
    expect(a).toEqual(parsed);
    expect(formatAddress(a)).toBe(canonical ?? text);
    expect(parseAddress(formatAddress(a))).toEqual(a);
  });

  it.each(BAD)('%j is rejected naming %j', (text, named) => {
    let caught: unknown;
    try {
      parseAddress(text);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NetError);
    const err = caught as NetError;
    expect(err.code).toBe('ERR_SOCKTOOL_BAD_ADDRESS');
    expect(err.op).toBe('parse');
    expect(err.input).toBe(text);
    expect(err.message).toContain(named);
  });

  it('refuses a relative path object that starts with "@" (it would read back as abstract): ./@x is that file', () => {
    expect(() => toAddress({ network: 'unix', path: '@x', abstract: false })).toThrow(
      expect.objectContaining({ code: 'ERR_SOCKTOOL_BAD_ADDRESS', op: 'parse' }));
    expect(toAddress({ network: 'unix', path: './@x', abstract: false })).toEqual({ network: 'unix', path: './@x', abstract: false });
    expect(formatAddress(parseAddress('unix:@x'))).toBe('unix:@x');
  });

  it('builds addresses from parts as the CLI does', () => {
    expect(inetAddress('udp', '::1', 9)).toEqual({ network: 'udp', host: '::1', port: 9 });
    expect(inetAddress('udp', '[::1]', 9)).toEqual({ network: 'udp', host: '::1', port: 9 });
    expect(unixAddress('unix', '@svc')).toEqual({ network: 'unix', path: 'svc', abstract: true });
    expect(() => inetAddress('tcp', '127.0.0.1', 70000)).toThrow(expect.objectContaining({ code: 'ERR_SOCKTOOL_BAD_ADDRESS' }));
    expect(() => inetAddress('tcp', '::1::', 1)).toThrow(expect.objectContaining({ code: 'ERR_SOCKTOOL_BAD_ADDRESS' }));
    expect(() => unixAddress('unix', '')).toThrow(expect.objectContaining({ code: 'ERR_SOCKTOOL_BAD_ADDRESS' }));
    expect(() => unixAddress('unix', `/${long(107)}`)).toThrow(expect.objectContaining({ code: 'ERR_SOCKTOOL_BAD_ADDRESS' }));
  });
});

// ---- properties (fast-check): the round-trip law over generated addresses, and every bad string rejected cleanly

const INET = networksWhere((row) => row.family === 'inet') as InetNetwork[];
const UNIX = networksWhere((row) => row.family === 'unix') as UnixNetwork[];
const port = fc.integer({ min: 0, max: 65535 });
/** Text that fits sun_path (at most 107 bytes) and has no NUL. */
const unixText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 })
  .filter((p) => !p.includes('\0') && Buffer.byteLength(p) <= 107);

const inetAddr: fc.Arbitrary<Address> = fc.oneof(
  fc.record({ network: fc.constantFrom<InetNetwork>('tcp', 'tcp4', 'udp', 'udp4'), host: fc.ipV4(), port }),
  fc.record({ network: fc.constantFrom<InetNetwork>('tcp', 'tcp6', 'udp', 'udp6'), host: fc.ipV6(), port }),
  fc.record({ network: fc.constantFrom(...INET), host: fc.domain(), port }),
  fc.record({ network: fc.constantFrom(...INET), host: fc.constant(''), port }),
);
const unixAddr: fc.Arbitrary<Address> = fc.oneof(
  fc.record({ network: fc.constantFrom(...UNIX), path: unixText, abstract: fc.constant(true) }),
  fc.record({ network: fc.constantFrom(...UNIX), path: unixText.map((p) => `/${p}`.slice(0, 107)), abstract: fc.constant(false) })
    .filter((a) => Buffer.byteLength(a.path) <= 107),
  // Relative: anything but a leading "@", which is how the grammar spells an abstract name.
  fc.record({ network: fc.constantFrom(...UNIX), path: unixText.filter((p) => !p.startsWith('@') && !p.startsWith('//')), abstract: fc.constant(false) }),
);

/** parseAddress either gives an address that formats and parses back to itself, or throws the one error. */
function parsesOrRejects(text: string): void {
  let a: Address;
  try {
    a = parseAddress(text);
  } catch (e) {
    expect(e).toBeInstanceOf(NetError);
    expect((e as NetError).code).toBe('ERR_SOCKTOOL_BAD_ADDRESS');
    expect((e as NetError).op).toBe('parse');
    expect((e as NetError).message).not.toMatch(/\n/);
    return;
  }
  expect(parseAddress(formatAddress(a))).toEqual(a);
}

/** Texts that are wrong by construction: each breaks one rule of the grammar. */
const badText: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.constantFrom(...INET), fc.ipV4(), fc.integer({ min: 65536, max: 10 ** 9 })).map(([n, h, p]) => `${n}://${h}:${p}`),
  fc.tuple(fc.constantFrom(...INET), fc.ipV6(), port).map(([n, h, p]) => `${n}://${h}:${p}`).filter((t) => /:.*:.*:/.test(t.split('//')[1]!)),
  fc.tuple(fc.constantFrom(...INET), fc.ipV6()).map(([n, h]) => `${n}://[${h}`),
  fc.tuple(fc.constantFrom(...INET), fc.domain()).map(([n, h]) => `${n}://${h}`),
  fc.tuple(fc.constantFrom(...INET), fc.domain(), fc.stringMatching(/^[a-z]+$/)).map(([n, h, p]) => `${n}://${h}:${p}`),
  fc.tuple(fc.constantFrom('tcp4', 'udp4'), fc.ipV6(), port).map(([n, h, p]) => `${n}://[${h}]:${p}`),
  fc.tuple(fc.constantFrom('tcp6', 'udp6'), fc.ipV4(), port).map(([n, h, p]) => `${n}://${h}:${p}`),
  fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/).filter((n) => !INET.includes(n as InetNetwork) && !UNIX.includes(n as UnixNetwork)), port)
    .map(([n, p]) => `${n}://127.0.0.1:${p}`),
  fc.tuple(fc.constantFrom(...UNIX), fc.string({ minLength: 108, maxLength: 300 }).filter((p) => !p.startsWith('@'))).map(([n, p]) => `${n}:///${p}`),
  fc.tuple(fc.constantFrom(...UNIX), unixText).map(([n, p]) => `${n}:///${p}\0x`),
  fc.tuple(fc.constantFrom(...UNIX), unixText.filter((p) => !p.startsWith('/'))).map(([n, p]) => `${n}://${p}`),
);

describe('address grammar properties', () => {
  it('parseAddress(formatAddress(a)) equals a, for every address', () => {
    fc.assert(fc.property(fc.oneof(inetAddr, unixAddr), (a) => {
      expect(parseAddress(formatAddress(a))).toEqual(a);
      expect(toAddress(a)).toEqual(a);
    }), { numRuns: 2000 });
  });

  it('every text that breaks a rule is rejected with ERR_SOCKTOOL_BAD_ADDRESS (op parse), naming no stack', () => {
    fc.assert(fc.property(badText, (text) => {
      expect(() => parseAddress(text)).toThrow(expect.objectContaining({ code: 'ERR_SOCKTOOL_BAD_ADDRESS', op: 'parse', input: text }));
    }), { numRuns: 2000 });
  });

  it('any string at all: an address that round-trips, or the one clean error', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 120 }), parsesOrRejects), { numRuns: 5000 });
    fc.assert(fc.property(fc.constantFrom(...INET, ...UNIX).chain((n) => fc.string({ maxLength: 60 }).map((r) => `${n}:${r}`)),
      parsesOrRejects), { numRuns: 5000 });
  });
});
