#!/usr/bin/env python3
"""A server in the classic tutorial style, on any family and type, for the CLI tests.
usage: server.py KIND WHERE MODE [CERT KEY]
  KIND   tcp4 tcp6 udp4 udp6 unix unixgram unixpacket
  WHERE  a host for inet kinds (port 0 is used), a path or @name for unix kinds
  MODE   echo    send back what arrives (streams: until EOF, a thread per client)
         silent  take what arrives and never answer
         sha256  streams: read to EOF, answer "<sha256 hex> <bytes>\\n", close
         stall   streams: accept and never read (a stuck far side)
         corrupt echo, with the last byte of every 3rd message (datagrams, packets) or chunk (streams) flipped
         drop    datagrams: echo, but leave every 10th unanswered
  CERT KEY  streams: speak TLS with this certificate and key (Python's ssl, server side)
Prints "listening <port>" or "listening <path>" first."""
import hashlib
import socket
import ssl
import sys
import threading

kind, where, mode = sys.argv[1:4]
tls = None
if len(sys.argv) > 5:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[4], sys.argv[5])
family = {'tcp4': socket.AF_INET, 'udp4': socket.AF_INET, 'tcp6': socket.AF_INET6, 'udp6': socket.AF_INET6}.get(kind, socket.AF_UNIX)
stype = {'udp4': socket.SOCK_DGRAM, 'udp6': socket.SOCK_DGRAM, 'unixgram': socket.SOCK_DGRAM,
         'unixpacket': socket.SOCK_SEQPACKET}.get(kind, socket.SOCK_STREAM)
s = socket.socket(family, stype)
if family == socket.AF_UNIX:
    s.bind('\0' + where[1:] if where.startswith('@') else where)
    shown = where
else:
    s.bind((where, 0))
    shown = s.getsockname()[1]
if stype != socket.SOCK_DGRAM:
    s.listen(16)
print('listening', shown, flush=True)


count = 0


def echoed(data):
    """What to send back: the data, or (corrupt, every 3rd time) the data with its last byte flipped."""
    global count
    count += 1
    if mode == 'corrupt' and count % 3 == 0 and data:
        return data[:-1] + bytes([data[-1] ^ 0xFF])
    return data


def serve(conn):
    if tls:
        try:
            conn = tls.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):  # a client that did not trust us
            conn.close()
            return
    total = 0
    h = hashlib.sha256()
    while True:
        try:
            data = conn.recv(65536)
        except (ConnectionResetError, ssl.SSLError):  # a client that closed with echoes unread
            break
        if not data:
            break
        if mode in ('echo', 'corrupt'):
            conn.sendall(echoed(data))
        total += len(data)
        h.update(data)
    if mode == 'sha256':
        conn.sendall(('%s %d\n' % (h.hexdigest(), total)).encode())
    conn.close()


if stype == socket.SOCK_DGRAM:
    received = 0
    while True:
        data, addr = s.recvfrom(65536)
        received += 1
        if mode == 'drop' and received % 10 == 0:
            continue
        if mode in ('echo', 'corrupt', 'drop') and addr:
            try:
                s.sendto(echoed(data), addr)
            except ConnectionRefusedError:  # a unixgram client gone
                pass
else:
    held = []
    while True:
        conn, _ = s.accept()
        if mode == 'stall':
            held.append(conn)
        else:
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
