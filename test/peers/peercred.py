#!/usr/bin/env python3
"""SO_PEERCRED from both ends. usage: peercred.py client PATH|@name stream|seqpacket  -> prints its own pid,
then the server's 'pid uid gid'; peercred.py server PATH -> prints 'listening', accepts one client, prints
its 'pid uid gid'."""
import os
import socket
import struct
import sys


def addr(text):
    return '\0' + text[1:] if text.startswith('@') else text


def creds(conn):
    pid, uid, gid = struct.unpack('3i', conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize('3i')))
    return f'{pid} {uid} {gid}'


mode, where = sys.argv[1], addr(sys.argv[2])
if mode == 'client':
    kind = socket.SOCK_SEQPACKET if sys.argv[3] == 'seqpacket' else socket.SOCK_STREAM
    s = socket.socket(socket.AF_UNIX, kind)
    s.settimeout(5.0)
    s.connect(where)
    print(os.getpid(), flush=True)
    print(creds(s), flush=True)
    s.recv(1)  # wait for the server to close
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(where)
    s.listen(1)
    s.settimeout(5.0)
    print('listening', flush=True)
    conn, _ = s.accept()
    print(creds(conn), flush=True)
    conn.close()
    os.unlink(where)
