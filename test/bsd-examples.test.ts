// The tutorial programs in examples/, written with socktool/bsd, each run against its Python counterpart in
// examples/python/ in both directions (socktool server with the Python client, Python server with the
// socktool client), and where a program has no server of its own, side by side with the Python version.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { live, makeCert, needs, pyServer, type Ran, ROOT, run, sockPath, startListening, stopLive } from './helpers.js';

type Lang = 'ts' | 'py';
const command = (lang: Lang, program: string, args: string[]): [string, string[]] => (lang === 'ts'
  ? [process.execPath, ['--import', 'tsx', join(ROOT, 'examples', `${program}.ts`), ...args]]
  : ['python3', ['-u', join(ROOT, 'examples', 'python', `${program}.py`), ...args]]);

/** Runs one side of an example to its end. */
const runEx = (lang: Lang, program: string, args: string[], input?: string): Promise<Ran> =>
  run(...command(lang, program, args), input, 30_000);

/** Starts an example server; resolves once it printed `listening <port|path>`. */
const startEx = (lang: Lang, program: string, args: string[]) => startListening(...command(lang, program, args));

/** The pairs each two-sided example runs as: server language, client language. */
const PAIRS: [Lang, Lang][] = [['ts', 'py'], ['py', 'ts']];

describe.each(PAIRS)('examples: %s server, %s client', (serverLang, clientLang) => {
  it('echo: a one-shot TCP exchange of a UTF-8 message', async () => {
    const server = await startEx(serverLang, 'echo', ['server', '0']);
    const client = await runEx(clientLang, 'echo', ['client', server.where, '红烧肉']);
    expect([client.stdout, client.stderr]).toEqual(['received 红烧肉\n', '']);
    expect((await server.exited).code).toBe(0);
    expect(server.stdout()).toMatch(/^listening \d+\nconnected by \[ ?'?127\.0\.0\.1'?, \d+ ?\]\n$/);
  });

  it('upper: survives a silent client and one that dies mid-conversation, and restarts on its port (SO_REUSEADDR)', async () => {
    const server = await startEx(serverLang, 'upper', ['server', '0']);
    const port = server.where;
    await run('python3', ['-c', `import socket; socket.create_connection(('127.0.0.1', ${port})).close()`]);
    await run('python3', ['-c', `
import socket, struct
s = socket.create_connection(('127.0.0.1', ${port}))
s.sendall(b'half a conversation')
s.recv(100)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()`]);
    const client = await runEx(clientLang, 'upper', ['client', port, 'hello', '红烧肉 ok']);
    expect([client.stdout, client.stderr]).toEqual(['HELLO\n红烧肉 OK\n', '']);
    server.child.kill('SIGKILL');
    await server.exited;
    // The port has connections in TIME_WAIT: only SO_REUSEADDR lets the restart bind it.
    const again = await startEx(serverLang, 'upper', ['server', port]);
    expect(again.where).toBe(port);
    const later = await runEx(clientLang, 'upper', ['client', port, 'after restart']);
    expect(later.stdout).toBe('AFTER RESTART\n');
    again.child.kill();
  });

  it('chat: both sides take turns until one says bye', async () => {
    const server = live2(serverLang, 'chat', ['server', '0'], 'hello\nfine, thanks\n');
    const port = (await server.waitFor(/^listening (\d+)\n/))[1]!;
    const client = await runEx(clientLang, 'chat', ['client', port], 'hi\nhow are you?\nbye\n');
    expect([client.stdout, client.stderr]).toEqual(['server: hello\nserver: fine, thanks\n', '']);
    expect((await server.exited).code).toBe(0);
    expect(server.stdout()).toBe(`listening ${port}\nclient: hi\nclient: how are you?\nclient: bye\n`);
  });

  it('many: 20 clients connected at once, each answered', async () => {
    const server = await startEx(serverLang, 'many', ['server', '0']);
    const client = await runEx(clientLang, 'many', ['client', server.where, '20']);
    expect(client.stdout).toBe(`${Array.from({ length: 20 }, (_, i) => `echo: client ${i}`).join('\n')}\n`);
    server.child.kill();
  });

  it('udp_echo: recvfrom/sendto, each answer from the server port', async () => {
    const server = await startEx(serverLang, 'udp_echo', ['server', '0']);
    const client = await runEx(clientLang, 'udp_echo', ['client', server.where, 'ping', '红烧肉']);
    expect(client.stdout).toBe(`ping from port ${server.where}\n红烧肉 from port ${server.where}\n`);
    server.child.kill();
  });

  it('unix_stream: IPC over an AF_UNIX stream, lines in, lengths back, half-close to end', async () => {
    const path = sockPath();
    const server = await startEx(serverLang, 'unix_stream', ['server', path]);
    expect(server.where).toBe(path);
    const client = await runEx(clientLang, 'unix_stream', ['client', path, 'hello', '红烧肉']);
    expect(client.stdout).toBe('5 bytes: hello\n9 bytes: 红烧肉\n');
    expect(await stopLive(server)).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('unix_dgram: IPC over AF_UNIX datagrams between two bound paths', async () => {
    const path = sockPath();
    const server = await startEx(serverLang, 'unix_dgram', ['server', path]);
    const client = await runEx(clientLang, 'unix_dgram', ['client', path, sockPath('c.sock'), 'hello', '红烧肉']);
    expect([client.stdout, client.stderr]).toEqual([`olleh from ${path}\n肉烧红 from ${path}\n`, '']);
    expect(await stopLive(server)).toBe(0);
    expect(existsSync(path)).toBe(false);
  });
});

/** An example server fed with stdin from the start. */
function live2(lang: Lang, program: string, args: string[], input: string) {
  const [cmd, argv] = command(lang, program, args);
  const p = live(cmd, argv);
  p.child.stdin.end(input);
  return p;
}

describe('examples next to their Python versions, against the same Python servers', () => {
  it('http_get: the same status, header count and body from a raw-socket HTTP server, plain and over TLS', async (ctx) => {
    needs(ctx, 'openssl');
    const plain = await startListening('python3', ['-u', join(ROOT, 'test', 'peers', 'http_peer.py'), 'close', '127.0.0.1']);
    const args = ['127.0.0.1', plain.where, '/page'];
    const [ts, py] = [await runEx('ts', 'http_get', args), await runEx('py', 'http_get', args)];
    expect(ts.stderr).toBe('');
    expect(ts.bytes.equals(py.bytes)).toBe(true);
    expect(ts.stdout).toMatch(/^status: HTTP\/1\.1 200 OK\nheaders: 1\nclose body for \/page Host: 127\.0\.0\.1\n/);

    const { cert, key } = makeCert();
    const secure = await startListening('python3', ['-u', join(ROOT, 'test', 'peers', 'http_peer.py'), 'close', '127.0.0.1', cert, key]);
    const tlsArgs = ['localhost', secure.where, '/secret', '--tls', '--ca', cert];
    const [tsTls, pyTls] = [await runEx('ts', 'http_get', tlsArgs), await runEx('py', 'http_get', tlsArgs)];
    expect(tsTls.stderr).toBe('');
    expect(tsTls.bytes.equals(pyTls.bytes)).toBe(true);
    expect(tsTls.stdout).toMatch(/^status: HTTP\/1\.1 200 OK\n/);
  });

  it('port_scanner: connect_ex finds the same open ports', async () => {
    const open = await pyServer('tcp4', '127.0.0.1', 'silent');
    const p = Number(open.where);
    const args = ['127.0.0.1', String(p - 3), String(p + 3)];
    const [ts, py] = [await runEx('ts', 'port_scanner', args), await runEx('py', 'port_scanner', args)];
    expect(ts.stdout).toContain(`port ${p} open\n`);
    expect(ts.stdout).toBe(py.stdout);
  });

  it('nonblocking: setblocking(False) and settimeout() behave and print as in Python', async () => {
    const [ts, py] = [await runEx('ts', 'nonblocking', []), await runEx('py', 'nonblocking', [])];
    expect(ts.stderr).toBe('');
    expect(ts.stdout).toBe(py.stdout);
    expect(ts.stdout).toMatch(/BlockingIOError \(EAGAIN\)[\s\S]*TimeoutError[\s\S]*"now there is data"/);
  });
});
