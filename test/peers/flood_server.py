"""An echo server that also floods its clients with bytes nobody asked for, to test that a load generator's counts
add up (every echo counted once; the rest counted as unexpected).

usage: flood_server.py udp HOST | tcp HOST | unix PATH
Prints "listening PORT_OR_PATH" once ready. Datagrams: each one is echoed, then followed by three datagrams of junk
and one duplicate of the echo. Streams: each read is echoed, then followed by as much junk again (twice over).
Runs until killed.
"""
import os
import socket
import sys
import threading

kind, where = sys.argv[1], sys.argv[2]
JUNK = b'\xff' * 512

if kind == 'udp':
    s = socket.socket(socket.AF_INET6 if ':' in where else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((where, 0))
    print(f'listening {s.getsockname()[1]}', flush=True)
    while True:
        data, peer = s.recvfrom(65536)
        for reply in (data, JUNK, data, JUNK[:7], JUNK[:len(data)]):
            try:
                s.sendto(reply, peer)
            except OSError:
                pass
else:
    if kind == 'tcp':
        s = socket.socket(socket.AF_INET6 if ':' in where else socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((where, 0))
        name = s.getsockname()[1]
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(where)
        name = where
    s.listen(64)
    print(f'listening {name}', flush=True)

    def serve(c):
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                c.sendall(data + os.urandom(2 * len(data)))
        except OSError:
            pass
        c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
