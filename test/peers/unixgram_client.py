#!/usr/bin/env python3
"""AF_UNIX datagram client in the classic tutorial style: bind a name of its own (or stay unnamed), sendto
the server, recvfrom the reply.
usage: unixgram_client.py SERVER (BIND|-) MESSAGE...   SERVER/BIND: a path, or @name for an abstract name;
BIND '-' stays unnamed (and gets no reply). Prints each reply and its sender, or 'timeout'."""
import socket
import sys


def addr(text):
    return '\0' + text[1:] if text.startswith('@') else text


server, me = addr(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if me != '-':
    s.bind(addr(me))
s.settimeout(1.0)
for message in sys.argv[3:]:
    s.sendto(message.encode('utf-8'), server)
    try:
        data, sender = s.recvfrom(65536)
    except socket.timeout:
        print('timeout', flush=True)
        continue
    if isinstance(sender, bytes):
        sender = '@' + sender[1:].decode()
    print(data.decode('utf-8'), sender, flush=True)
s.close()
