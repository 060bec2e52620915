#!/usr/bin/env python3
"""Pushes up to MEGABYTES over TCP until the other side stops taking data for 2 s; prints the bytes it took.
usage: push_client.py HOST PORT MEGABYTES"""
import socket
import sys

host, port, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port))
s.settimeout(2.0)
total = 0
block = b'x' * 65536
try:
    while total < mb << 20:
        total += s.send(block)
except socket.timeout:
    pass
print(total)
