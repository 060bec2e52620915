"""A service manager's notify socket, as systemd keeps one: a unixgram socket with SO_PASSCRED.

usage: notify_receiver.py PATH|@name
Prints "ready" once bound, then one JSON line per datagram: {"message": "...", "pid": N} (the sender's pid from
SCM_CREDENTIALS, as systemd reads it to know who spoke).
"""
import json
import socket
import struct
import sys

where = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\0' + where[1:] if where.startswith('@') else where)
print('ready', flush=True)
while True:
    data, ancillary, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize('3i')))
    pid = None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('3i', payload[:12])[0]
    print(json.dumps({'message': data.decode(), 'pid': pid}), flush=True)
