#!/usr/bin/env python3
"""An HTTP/1.1 server written on a raw socket, for http-get's tests: one response shape per MODE.
usage: http_peer.py MODE WHERE [CERT KEY]
  MODE   chunked   body in chunks (Transfer-Encoding: chunked) with a trailer
         close     no length: the body ends when the server closes
         length    Content-Length, after a 100 Continue
  WHERE  a host (port 0) or a unix socket path; with CERT and KEY it speaks TLS.
The body is "<mode> body for <request path>\\n" plus 3000 bytes of 0-255 and a UTF-8 line."""
import socket
import ssl
import sys
import threading

mode, where = sys.argv[1], sys.argv[2]
if where.startswith('/'):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(where)
    shown = where
else:
    s = socket.socket(socket.AF_INET6 if ':' in where else socket.AF_INET, socket.SOCK_STREAM)
    s.bind((where, 0))
    shown = s.getsockname()[1]
s.listen(8)
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    s = ctx.wrap_socket(s, server_side=True)
print('listening', shown, flush=True)


def handle(conn):
    request = b''
    while b'\r\n\r\n' not in request:
        data = conn.recv(4096)
        if not data:
            return conn.close()
        request += data
    line = request.split(b'\r\n')[0].decode()
    path = line.split(' ')[1]
    host = [h for h in request.decode().split('\r\n') if h.lower().startswith('host:')]
    body = ('%s body for %s %s\n' % (mode, path, host[0] if host else 'no-host')).encode() + bytes(range(256)) * 12 + '红烧肉\n'.encode()
    if mode == 'chunked':
        conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Mode: chunked\r\n\r\n')
        for i in range(0, len(body), 1000):
            part = body[i:i + 1000]
            conn.sendall(b'%x;ext=1\r\n%s\r\n' % (len(part), part))
        conn.sendall(b'0\r\nX-Trailer: yes\r\n\r\n')
    elif mode == 'close':
        conn.sendall(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n' + body)
    else:
        conn.sendall(b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % len(body))
        conn.sendall(body)
    conn.close()


while True:
    try:
        conn, _ = s.accept()
    except ssl.SSLError:
        continue
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
