"""A socktool channel client in Python's standard library alone: a requester and a subscriber, speaking the wire
protocol of docs/channel.md ("Wire protocol"). multiprocessing.connection does the framing (and the authkey
handshake, with --authkey); this file adds the envelope.

usage: channel_client.py request ADDRESS JSON [--authkey KEY]
           one request; prints the reply (JSON); an error reply is printed on stderr, exit 7
       channel_client.py subscribe ADDRESS [PREFIX] [--count N] [--authkey KEY]
           prints "subscribed", then each publication as TOPIC JSON, one a line, until N or the publisher's end
ADDRESS: tcp:HOST:PORT or unix:PATH
"""
import json
import struct
import sys
from multiprocessing.connection import Client

REQUEST, REPLY, ERROR, CANCEL, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, ACK, PING, PONG, END = range(1, 12)


def envelope(kind, number, body=b''):
    return bytes([kind]) + struct.pack('>I', number) + body


def connect(address, authkey):
    kind, _, where = address.partition(':')
    if kind == 'unix':
        return Client(where, family='AF_UNIX', authkey=authkey)
    host, _, port = where.rpartition(':')
    return Client((host, int(port)), family='AF_INET', authkey=authkey)


def frames(conn):
    """Every frame, each as (kind, number, rest); pings are answered here, as the protocol asks."""
    while True:
        frame = conn.recv_bytes()
        kind, number = frame[0], struct.unpack('>I', frame[1:5])[0]
        if kind == PING:
            conn.send_bytes(envelope(PONG, 0))
        elif kind != PONG:
            yield kind, number, frame[5:]


def request(conn, body):
    conn.send_bytes(envelope(REQUEST, 1, json.dumps(body).encode()))
    for kind, number, rest in frames(conn):
        if kind == REPLY and number == 1:
            return json.loads(rest)
        if kind == ERROR and number == 1:
            error = json.loads(rest)
            print(f"{error['name']}: {error['message']}", file=sys.stderr)
            sys.exit(7)


def subscribe(conn, prefix, count):
    conn.send_bytes(envelope(SUBSCRIBE, 1, prefix.encode()))
    received = 0
    for kind, number, rest in frames(conn):
        if kind == ACK and number == 1:
            print('subscribed', flush=True)
        elif kind == END:
            return  # the publisher closed for good
        elif kind == PUBLISH:
            (size,) = struct.unpack('>H', rest[:2])
            topic, body = rest[2:2 + size].decode(), rest[2 + size:]
            print(topic, json.dumps(json.loads(body)), flush=True)
            received += 1
            if received == count:
                return


def main(argv):
    authkey = None
    if '--authkey' in argv:
        at = argv.index('--authkey')
        authkey = argv[at + 1].encode()
        del argv[at:at + 2]
    count = None
    if '--count' in argv:
        at = argv.index('--count')
        count = int(argv[at + 1])
        del argv[at:at + 2]
    what, address = argv[0], argv[1]
    with connect(address, authkey) as conn:
        if what == 'request':
            print(json.dumps(request(conn, json.loads(argv[2]))))
        else:
            subscribe(conn, argv[2] if len(argv) > 2 else '', count)


if __name__ == '__main__':
    main(sys.argv[1:])
