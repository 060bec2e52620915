# A port scanner on connect_ex.
#   python3 examples/python/port_scanner.py <host> <first port> <last port>
import socket
import sys

host, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for port in range(first, last + 1):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) == 0:
            print('port %d open' % port, flush=True)
