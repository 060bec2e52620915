"""Many concurrent clients against a stream echo server, checking every byte with SHA-256.

usage: stream_clients.py tcp HOST PORT | unix PATH | unixpacket PATH  CLIENTS BYTES [MISBEHAVING]
All CLIENTS connect first (so that they are open at once), then each sends BYTES of random data (unixpacket: in
messages of 16 KiB), half-closes, reads the echo to EOF and compares its SHA-256 with what it sent. With
MISBEHAVING, as many more clients do what breaks servers meanwhile, in turn: reset mid-transfer (SO_LINGER 0),
stay idle without a byte, half-close at once having sent nothing. Prints one JSON line:
{"ok": N, "mismatch": N, "errors": N, "misbehaved": N, "first_error": "..."}.
"""
import asyncio
import hashlib
import json
import os
import socket
import struct
import sys

kind = sys.argv[1]
if kind == 'tcp':
    addr = (sys.argv[2], int(sys.argv[3]))
    rest = sys.argv[4:]
    family, stype = (socket.AF_INET6 if ':' in addr[0] else socket.AF_INET), socket.SOCK_STREAM
else:
    addr = sys.argv[2]
    addr = '\0' + addr[1:] if addr.startswith('@') else addr
    rest = sys.argv[3:]
    family, stype = socket.AF_UNIX, (socket.SOCK_SEQPACKET if kind == 'unixpacket' else socket.SOCK_STREAM)
clients, size = int(rest[0]), int(rest[1])
misbehaving = int(rest[2]) if len(rest) > 2 else 0
CHUNK = 16384
TIMEOUT = 60
result = {'ok': 0, 'mismatch': 0, 'errors': 0, 'misbehaved': 0}


def connect_blocking():
    s = socket.socket(family, stype)
    s.connect(addr)  # blocking: a full backlog waits, as a client would
    s.setblocking(False)
    return s


async def client(loop, s, start):
    await start.wait()
    data = os.urandom(size)
    sent = hashlib.sha256(data)
    got = hashlib.sha256()

    async def send():
        for at in range(0, size, CHUNK):
            await loop.sock_sendall(s, data[at:at + CHUNK])
        s.shutdown(socket.SHUT_WR)

    async def receive():
        n = 0
        while True:
            chunk = await loop.sock_recv(s, 65536)
            if not chunk:
                return n
            got.update(chunk)
            n += len(chunk)

    try:
        _, n = await asyncio.wait_for(asyncio.gather(send(), receive()), TIMEOUT)
        result['ok' if n == size and got.digest() == sent.digest() else 'mismatch'] += 1
    except Exception as e:  # noqa: BLE001 - counted and reported
        result['errors'] += 1
        result.setdefault('first_error', repr(e))
    finally:
        s.close()


async def misbehave(loop, s, start, i):
    await start.wait()
    try:
        if i % 3 == 0:  # reset mid-transfer
            await loop.sock_sendall(s, os.urandom(CHUNK))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        elif i % 3 == 1:  # idle for a while, then gone
            await asyncio.sleep(1.0)
        else:  # half-close at once, read to EOF
            s.shutdown(socket.SHUT_WR)
            while await loop.sock_recv(s, 65536):
                pass
        result['misbehaved'] += 1
    except OSError:
        result['misbehaved'] += 1
    finally:
        s.close()


async def main():
    loop = asyncio.get_running_loop()
    start = asyncio.Event()
    socks = await asyncio.gather(*(loop.run_in_executor(None, connect_blocking) for _ in range(clients + misbehaving)))
    tasks = [client(loop, s, start) for s in socks[:clients]]
    tasks += [misbehave(loop, s, start, i) for i, s in enumerate(socks[clients:])]
    start.set()
    await asyncio.gather(*tasks)


asyncio.run(main())
print(json.dumps(result))
