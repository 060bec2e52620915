#!/usr/bin/env python3
"""AF_UNIX stream client in the classic tutorial style: connect, sendall each message, recv the reply.
usage: unix_client.py PATH MESSAGE... ; prints each reply (UTF-8) on its own line."""
import socket
import sys

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5.0)
s.connect(path)
for message in sys.argv[2:]:
    data = message.encode('utf-8')
    s.sendall(data)
    reply = b''
    while len(reply) < len(data):
        chunk = s.recv(1024)
        if not chunk:
            sys.exit('server closed early')
        reply += chunk
    print(reply.decode('utf-8'), flush=True)
s.close()
