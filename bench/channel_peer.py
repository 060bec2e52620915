# One side of a bench/channel.mjs measurement with Python's multiprocessing.connection (send_bytes/recv_bytes).
# usage: python3 bench/channel_peer.py echo|sink|rt|rt32|push ADDRESS SIZE COUNT
#   ADDRESS: unix:PATH or tcp:HOST:PORT (port 0 for any); roles as bench/channel-peer.mjs.
import sys
import time
from multiprocessing.connection import Client, Listener

role, address, size, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
payload = b'x' * size
warmup = -(-count // 10)  # a tenth more first, untimed, as bench/channel-peer.mjs does


def parse(text):
    kind, _, rest = text.partition(':')
    if kind == 'unix':
        return rest, 'AF_UNIX'
    host, _, port = rest.rpartition(':')
    return (host, int(port)), 'AF_INET'


where, family = parse(address)


def say(line):
    sys.stdout.write(f'{line}\n')
    sys.stdout.flush()


def listen():
    listener = Listener(where, family=family)
    a = listener.address
    say(f'listening {"unix:" + a if family == "AF_UNIX" else f"tcp:{a[0]}:{a[1]}"}')
    return listener.accept()


if role == 'echo':
    conn = listen()
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        pass
elif role == 'sink':
    conn = listen()
    first = 0.0
    for i in range(warmup + count):
        msg = conn.recv_bytes()
        if len(msg) != size:
            raise SystemExit(f'got {len(msg)} bytes, not {size}')
        if i == warmup - 1:
            first = time.perf_counter()
    say(f'{count / (time.perf_counter() - first):.0f}')
elif role == 'rt':
    conn = Client(where, family=family)
    t0 = 0.0
    for i in range(-warmup, count):
        if i == 0:
            t0 = time.perf_counter()
        conn.send_bytes(payload)
        reply = conn.recv_bytes()
        if len(reply) != size:
            raise SystemExit(f'a reply of {len(reply)} bytes, not {size}')
    say(f'{count / (time.perf_counter() - t0):.0f}')
elif role == 'rt32':
    # 32 requests out at any time, sent by a thread of their own (a blocked send must not stop the replies being
    # read): each reply lets the next one go.
    import threading
    conn = Client(where, family=family)
    total, t0 = warmup + count, 0.0
    room = threading.Semaphore(32)

    def send_all():
        for _ in range(total):
            room.acquire()
            conn.send_bytes(payload)

    threading.Thread(target=send_all, daemon=True).start()
    for done in range(1, total + 1):
        reply = conn.recv_bytes()
        if len(reply) != size:
            raise SystemExit(f'a reply of {len(reply)} bytes, not {size}')
        if done == warmup:
            t0 = time.perf_counter()
        room.release()
    say(f'{count / (time.perf_counter() - t0):.0f}')
elif role == 'push':
    conn = Client(where, family=family)
    for _ in range(warmup + count):
        conn.send_bytes(payload)
    conn.close()
