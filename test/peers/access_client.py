"""A client of a unix socket server, for the file-rights tests (run as another user with setpriv).

usage: access_client.py unix|unixpacket|unixgram PATH MESSAGE
Prints "ok <reply>" when it got through, or "refused <ERRNO>" when connecting (or sending) failed.
"""
import errno
import socket
import sys

kind, path, message = sys.argv[1:4]
stype = {'unix': socket.SOCK_STREAM, 'unixpacket': socket.SOCK_SEQPACKET, 'unixgram': socket.SOCK_DGRAM}[kind]
s = socket.socket(socket.AF_UNIX, stype)
s.settimeout(5)
try:
    if kind == 'unixgram':
        s.bind('')  # autobind to an abstract name, so that the server can answer
        s.sendto(message.encode(), path)
    else:
        s.connect(path)
        s.sendall(message.encode())
        if kind == 'unix':
            s.shutdown(socket.SHUT_WR)
    print('ok', s.recv(4096).decode(), flush=True)
except OSError as e:
    print('refused', errno.errorcode.get(e.errno, str(e.errno)), flush=True)
