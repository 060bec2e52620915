"""Python's multiprocessing.connection as a socktool channel's peer.

    mp_peer.py client FAMILY ADDRESS AUTHKEY MESSAGE...   send each message (send_bytes), then read as many
                                                          replies (recv_bytes) and print each as hex
    mp_peer.py listen FAMILY ADDRESS AUTHKEY COUNT        accept one client, answer COUNT messages with their
                                                          upper-case (send_bytes), print each received as hex

FAMILY is AF_UNIX (ADDRESS a path) or AF_INET (ADDRESS host:port, port 0 for any); AUTHKEY '-' for none.
A message of the form '*N' is N bytes of 'x' (to cross frame sizes). The listener prints 'listening' and its
address first. Errors print 'error: <class>: <text>' and exit 1.
"""
import sys
from multiprocessing.connection import Client, Listener


def address(family, text):
    if family == 'AF_UNIX':
        return text
    host, port = text.rsplit(':', 1)
    return (host, int(port))


def expand(m):
    return b'x' * int(m[1:]) if m.startswith('*') else m.encode()


def main():
    mode, family, where, key = sys.argv[1:5]
    authkey = None if key == '-' else key.encode()
    try:
        if mode == 'client':
            with Client(address(family, where), family=family, authkey=authkey) as c:
                messages = [expand(m) for m in sys.argv[5:]]
                for m in messages:
                    c.send_bytes(m)
                for _ in messages:
                    print(c.recv_bytes().hex(), flush=True)
        else:
            count = int(sys.argv[5])
            with Listener(address(family, where), family=family, authkey=authkey) as l:
                a = l.address
                print('listening', flush=True)
                print(a if isinstance(a, str) else '%s:%d' % a, flush=True)
                with l.accept() as c:
                    for _ in range(count):
                        m = c.recv_bytes()
                        print(m.hex(), flush=True)
                        c.send_bytes(m.upper())
    except Exception as e:  # one line for the test to read
        print('error: %s: %s' % (type(e).__name__, e), flush=True)
        sys.exit(1)


main()
