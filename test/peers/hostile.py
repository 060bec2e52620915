"""Hostile and slow peers against a socktool server, for the stress suite.

usage: hostile.py MODE tcp HOST PORT | unix PATH | unixpacket PATH  ARGS...
  never-read N SIZE   one connection sends N requests (socktool's request envelope, framed) of SIZE bytes and
                      never reads a reply
  unfinished N SIZE   N connections each announce a SIZE-byte message and send all of it but the last 100 bytes
  idle N              N connections that send nothing
  slowloris N         N connections that send one byte a second (of a frame announcing 1 MiB)
Prints {"ready": true, ...} once the peers have done what they can (everything sent, or nothing more taken for
2 s: the server holds them back), then keeps them as they are until stdin closes, then closes them and prints
{"done": true, "closed_by_server": N}: how many connections the server had closed meanwhile. Each line on stdin
before that asks for {"closed_by_server": N} now (reading what the server sent, as the final count does).
"""
import json
import os
import selectors
import socket
import struct
import sys
import threading
import time

mode, kind = sys.argv[1], sys.argv[2]
if kind == 'tcp':
    addr = (sys.argv[3], int(sys.argv[4]))
    rest = sys.argv[5:]
    family = socket.AF_INET6 if ':' in addr[0] else socket.AF_INET
else:
    addr = sys.argv[3]
    addr = '\0' + addr[1:] if addr.startswith('@') else addr
    rest = sys.argv[4:]
    family = socket.AF_UNIX
# seqpacket keeps each message whole: no frame header.
stype = socket.SOCK_SEQPACKET if kind == 'unixpacket' else socket.SOCK_STREAM
framed = kind != 'unixpacket'
STALL = 2.0


def frame(body_len):
    return struct.pack('!I', body_len)


def request(i, size):
    body = b'\x01' + struct.pack('!I', i + 1) + os.urandom(16) * ((size - 5) // 16) + b'x' * ((size - 5) % 16)
    return frame(len(body)) + body if framed else body


def connect(n):
    socks, refused = [], 0
    for _ in range(n):
        s = socket.socket(family, stype)
        try:
            s.connect(addr)
        except OSError:
            refused += 1
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
    return socks, refused


def push(socks, payloads):
    """Sends each socket its payload without blocking, until all is sent or nothing moves for STALL seconds."""
    sel = selectors.DefaultSelector()
    left = {}
    for s, p in zip(socks, payloads):
        left[s] = memoryview(p)
        sel.register(s, selectors.EVENT_WRITE)
    sent = 0
    last = time.monotonic()
    while left and time.monotonic() - last < STALL:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                n = s.send(left[s][:1 << 20])
            except BlockingIOError:
                continue
            except OSError:
                sel.unregister(s)
                del left[s]
                continue
            sent += n
            last = time.monotonic()
            left[s] = left[s][n:]
            if len(left[s]) == 0:
                sel.unregister(s)
                del left[s]
    sel.close()
    return sent


def closed_by_server(socks):
    """How many the server closed: what it sent first (a heartbeat, say) is read past, to the end or to nothing yet."""
    n = 0
    for s in socks:
        try:
            while s.recv(65536):
                pass
            n += 1
        except BlockingIOError:
            pass
        except OSError:
            n += 1
    return n


socks, refused = [], 0
report = {'ready': True}
stop = threading.Event()
if mode == 'never-read':
    n, size = int(rest[0]), int(rest[1])
    socks, refused = connect(1)
    # One request at a time, generated as it goes: N of them may be far more than this process should hold.
    sent_requests = 0
    s = socks[0]
    s.setblocking(True)
    s.settimeout(STALL)
    for i in range(n):
        try:
            s.sendall(request(i, size)) if framed else s.send(request(i, size))
        except (socket.timeout, OSError):
            break
        sent_requests += 1
    s.setblocking(False)
    report.update(requests_sent=sent_requests, requests=n)
elif mode == 'unfinished':
    n, size = int(rest[0]), int(rest[1])
    socks, refused = connect(n)
    body = os.urandom(size - 100)
    report.update(bytes_sent=push(socks, [frame(size) + body] * len(socks)))
elif mode == 'idle':
    socks, refused = connect(int(rest[0]))
elif mode == 'slowloris':
    socks, refused = connect(int(rest[0]))
    head = frame(1 << 20)

    def drip():
        i = 0
        while not stop.wait(1.0):
            for s in socks:
                try:
                    s.send(head[i:i + 1] if i < 4 else b'x')
                except OSError:
                    pass
            i += 1
    threading.Thread(target=drip, daemon=True).start()
else:
    sys.exit(f'unknown mode {mode}')

report.update(connected=len(socks), refused=refused)
print(json.dumps(report), flush=True)
for _ in sys.stdin:
    print(json.dumps({'closed_by_server': closed_by_server(socks)}), flush=True)
stop.set()
done = {'done': True, 'closed_by_server': closed_by_server(socks)}
for s in socks:
    s.close()
print(json.dumps(done), flush=True)
