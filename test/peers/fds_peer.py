#!/usr/bin/env python3
"""Descriptor passing with socket.send_fds / recv_fds (Python 3.9+).
usage: fds_peer.py send PATH|@name stream|seqpacket|dgram FILE  -> opens FILE, sends b'file' with its fd
       fds_peer.py recv PATH stream|seqpacket|dgram          -> serves once: prints the message, then what
                                                               the received descriptor reads"""
import os
import socket
import sys

TYPES = {'stream': socket.SOCK_STREAM, 'seqpacket': socket.SOCK_SEQPACKET, 'dgram': socket.SOCK_DGRAM}


def addr(text):
    return '\0' + text[1:] if text.startswith('@') else text


mode, where, kind = sys.argv[1], addr(sys.argv[2]), TYPES[sys.argv[3]]
s = socket.socket(socket.AF_UNIX, kind)
s.settimeout(5.0)
if mode == 'send':
    s.connect(where)
    with open(sys.argv[4], 'rb') as f:
        socket.send_fds(s, [b'file'], [f.fileno()])
    if kind != socket.SOCK_DGRAM:
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
else:
    s.bind(where)
    if kind != socket.SOCK_DGRAM:
        s.listen(1)
    print('listening', flush=True)
    conn = s if kind == socket.SOCK_DGRAM else s.accept()[0]
    msg, fds, _, _ = socket.recv_fds(conn, 1024, 4)
    print(msg.decode(), flush=True)
    os.lseek(fds[0], 0, os.SEEK_SET)
    print(os.read(fds[0], 1024).decode(), flush=True)
    os.unlink(where)
