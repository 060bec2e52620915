"""A client of a unix socket server, for the access tests (run as another user with setpriv).

usage: access_client.py unix|unixpacket|unixgram PATH|@NAME MESSAGE [COUNT]
MESSAGE "$pid" sends this process's pid. Prints, per attempt (COUNT of them, default 1):
  "ok <reply>"       it got through and was answered;
  "closed"           the server closed the connection unanswered (a refused stream peer);
  "no-reply"         nothing came back within a second (a dropped datagram);
  "refused <ERRNO>"  connecting (or sending) failed.
"""
import errno
import os
import socket
import sys

kind, where, message = sys.argv[1:4]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
if message == '$pid':
    message = str(os.getpid())
address = '\0' + where[1:] if where.startswith('@') else where
stype = {'unix': socket.SOCK_STREAM, 'unixpacket': socket.SOCK_SEQPACKET, 'unixgram': socket.SOCK_DGRAM}[kind]


def attempt():
    s = socket.socket(socket.AF_UNIX, stype)
    s.settimeout(1 if kind == 'unixgram' else 5)
    try:
        if kind == 'unixgram':
            s.bind('')  # autobind to an abstract name, so that the server can answer
            s.sendto(message.encode(), address)
        else:
            s.connect(address)
            s.sendall(message.encode())
            if kind == 'unix':
                s.shutdown(socket.SHUT_WR)
        reply = s.recv(4096)
        return f'ok {reply.decode()}' if reply else 'closed'
    except socket.timeout:
        return 'no-reply'
    except (ConnectionResetError, BrokenPipeError):
        return 'closed'
    except OSError as e:
        return f'refused {errno.errorcode.get(e.errno, str(e.errno))}'
    finally:
        s.close()


for _ in range(count):
    print(attempt(), flush=True)
