"""A chat member for fairness tests against `socktool chat` on tcp.

usage: chat_member.py PORT flood LINES       sends LINES numbered lines of 1000 bytes as fast as the socket takes
                                             them, prints "sent LINES", half-closes and reads to the end
       chat_member.py PORT read LINES PAUSE  a small receive buffer, prints "ready", reads nothing for PAUSE seconds,
                                             then reads until LINES numbered lines came, checking their order;
                                             prints "got N" (and "gap at N" if one is missing or out of order)
       chat_member.py PORT mute              connects, prints "ready", never reads
"""
import socket
import sys
import time

port, role = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
if role != 'flood':
    # The kernel holds little for this member: what it does not read stays in the server's backlog.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', port))

if role == 'flood':
    lines = int(sys.argv[3])
    for i in range(lines):
        s.sendall(b'line %08d ' % i + b'x' * 983 + b'\n')
    print(f'sent {lines}', flush=True)
    # Half-close and read to the end: closing with unread notices would reset the connection, and the kernel
    # would throw away lines the server has not read yet.
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
elif role == 'read':
    lines, pause = int(sys.argv[3]), float(sys.argv[4])
    print('ready', flush=True)
    time.sleep(pause)
    f = s.makefile('rb')
    got = 0
    for line in f:
        if line.startswith(b'* '):
            continue  # join and leave notices
        number = int(line.split(b'] ', 1)[1].split()[1])
        if number != got:
            print(f'gap at {got}', flush=True)
            break
        got += 1
        if got == lines:
            break
    print(f'got {got}', flush=True)
else:
    print('ready', flush=True)
    time.sleep(3600)
