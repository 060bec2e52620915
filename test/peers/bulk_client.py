#!/usr/bin/env python3
"""Sends MEGABYTES of pseudo-random bytes over TCP, half-closes, and reads the answer to EOF.
usage: bulk_client.py HOST PORT MEGABYTES ; prints "sent <sha256 hex> <bytes>" then the answer."""
import hashlib
import random
import socket
import sys

host, port, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = random.Random(7).randbytes(1 << 20)
h = hashlib.sha256()
s = socket.create_connection((host, port))
for i in range(mb):
    # Each megabyte differs from the last, so a dropped or repeated block changes the hash.
    chunk = bytes([i & 0xff]) + block[1:]
    s.sendall(chunk)
    h.update(chunk)
s.shutdown(socket.SHUT_WR)
answer = b''
while True:
    data = s.recv(65536)
    if not data:
        break
    answer += data
s.close()
print('sent', h.hexdigest(), mb << 20)
sys.stdout.write(answer.decode())
