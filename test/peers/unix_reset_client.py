#!/usr/bin/env python3
"""A client that dies mid-conversation: connects, sends half a message and aborts.
usage: unix_reset_client.py PATH [rst] ; with 'rst', unread data is left behind so the close is a reset."""
import socket
import sys

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.sendall(b'half a mess')
if len(sys.argv) > 2 and sys.argv[2] == 'rst':
    # Let the echo arrive unread: closing with unread data makes the kernel reset the connection.
    s.sendall(b'age that is never read' * 100)
    import time
    time.sleep(0.2)
s.close()
print('gone', flush=True)
