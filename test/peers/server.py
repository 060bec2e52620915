#!/usr/bin/env python3
"""A server in the classic tutorial style, on any family and type, for the CLI tests.
usage: server.py KIND WHERE MODE
  KIND   tcp4 tcp6 udp4 udp6 unix unixgram unixpacket
  WHERE  a host for inet kinds (port 0 is used), a path or @name for unix kinds
  MODE   echo    send back what arrives (streams: until EOF, a thread per client)
         silent  take what arrives and never answer
         sha256  streams: read to EOF, answer "<sha256 hex> <bytes>\\n", close
         stall   streams: accept and never read (a stuck far side)
Prints "listening <port>" or "listening <path>" first."""
import hashlib
import socket
import sys
import threading

kind, where, mode = sys.argv[1:4]
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


def serve(conn):
    total = 0
    h = hashlib.sha256()
    while True:
        data = conn.recv(65536)
        if not data:
            break
        if mode == 'echo':
            conn.sendall(data)
        total += len(data)
        h.update(data)
    if mode == 'sha256':
        conn.sendall(('%s %d\n' % (h.hexdigest(), total)).encode())
    conn.close()


if stype == socket.SOCK_DGRAM:
    while True:
        data, addr = s.recvfrom(65536)
        if mode == 'echo' and addr:
            s.sendto(data, addr)
else:
    held = []
    while True:
        conn, _ = s.accept()
        if mode == 'stall':
            held.append(conn)
        else:
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
