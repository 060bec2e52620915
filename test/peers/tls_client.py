#!/usr/bin/env python3
"""A TLS client in the tutorial style: verify the server against CA, send one line, print the answer to EOF.
usage: tls_client.py HOST PORT CA MESSAGE"""
import socket
import ssl
import sys

host, port, ca, message = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
with socket.create_connection((host, port)) as raw:
    with ctx.wrap_socket(raw, server_hostname=host) as s:
        s.sendall((message + '\n').encode('utf-8'))
        answer = b''
        while not answer.endswith(b'\n'):
            data = s.recv(4096)
            if not data:
                break
            answer += data
        sys.stdout.write(answer.decode('utf-8'))
