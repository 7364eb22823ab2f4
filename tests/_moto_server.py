"""Runs moto's S3 server on 127.0.0.1 (a free port), prints ``PORT <n>``, and exits at the end
of its standard input: a pipe from the parent, closed by the OS even if the parent crashes.
Used by the tests' ``moto_server`` fixture and by the S3 benchmark."""

import os
import sys

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(f"PORT {server.get_host_and_port()[1]}", flush=True)
sys.stdin.read()
os._exit(0)
