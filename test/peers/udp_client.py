#!/usr/bin/env python3
"""UDP client in the classic tutorial style: sendto() each message, recvfrom() its echo.
usage: udp_client.py HOST PORT MESSAGE... ; prints each reply (UTF-8) on its own line."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.settimeout(5.0)
for message in sys.argv[3:]:
    s.sendto(message.encode('utf-8'), (host, port))
    data, addr = s.recvfrom(65535)
    if addr[1] != port:
        sys.exit('reply came from %r, not the server' % (addr,))
    print(data.decode('utf-8'), flush=True)
s.close()
