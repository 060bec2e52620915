"""One round trip to a server of any socket kind: sends MESSAGE, prints what comes back.

usage: echo_client.py tcp|udp|unix|unixgram|unixpacket ADDRESS MESSAGE
ADDRESS is HOST:PORT ([::1]:PORT for IPv6), a path, or @name for an abstract name. Prints the reply, "closed"
when a stream server closed without answering, "no-reply" when a datagram got no answer within 5 s.
"""
import socket
import sys

kind, where, message = sys.argv[1:4]
if kind in ('tcp', 'udp'):
    host, port = where.rsplit(':', 1)
    host = host.strip('[]')
    family, address = (socket.AF_INET6 if ':' in host else socket.AF_INET), (host, int(port))
else:
    family, address = socket.AF_UNIX, '\0' + where[1:] if where.startswith('@') else where
stype = socket.SOCK_DGRAM if kind in ('udp', 'unixgram') else socket.SOCK_SEQPACKET if kind == 'unixpacket' else socket.SOCK_STREAM
s = socket.socket(family, stype)
s.settimeout(5)
try:
    if stype == socket.SOCK_DGRAM:
        if family == socket.AF_UNIX:
            s.bind('')  # autobind, so that the server can answer
        s.sendto(message.encode(), address)
    else:
        s.connect(address)
        s.sendall(message.encode())
        if stype == socket.SOCK_STREAM:
            s.shutdown(socket.SHUT_WR)
    chunks = []
    while True:
        data = s.recv(65536)
        if not data:
            break
        chunks.append(data)
        if stype != socket.SOCK_STREAM:
            break  # one message back
    print(b''.join(chunks).decode() if chunks else 'closed', flush=True)
except socket.timeout:
    print('no-reply', flush=True)
except (ConnectionResetError, BrokenPipeError):
    print('closed', flush=True)
