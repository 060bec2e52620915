#!/usr/bin/env python3
"""AF_UNIX SOCK_SEQPACKET client: connect, send each message as one packet, shut down writing, then print
every packet received (one line each, repr of the bytes) until the server closes.
usage: seqpacket_client.py PATH|@name MESSAGE..."""
import socket
import sys

where = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5.0)
s.connect('\0' + where[1:] if where.startswith('@') else where)
for message in sys.argv[2:]:
    s.send(message.encode('utf-8'))
s.shutdown(socket.SHUT_WR)
while True:
    packet = s.recv(65536)
    if not packet:
        break
    print(repr(packet), flush=True)
s.close()
