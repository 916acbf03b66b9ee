#!/usr/bin/env python3
"""WebSocket echo round-trip latency: one connection, N small text messages, each sent
after the previous echo came back. Prints `median_us p99_us`. Standard library only.

usage: ws_rtt.py URL COUNT [CAFILE]     (URL is ws://host:port/path or wss://...)
"""
import base64
import os
import socket
import ssl
import statistics
import sys
import time
from urllib.parse import urlsplit


def connect(url, cafile):
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    host = os.environ.get("WS_HOST", parts.hostname)
    if parts.scheme == "wss":
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = False  # the bench connects to 127.0.0.1
        sock = context.wrap_socket(sock, server_hostname=host)
    path = parts.path + ("?" + parts.query if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit(f"{url}: connection closed during the handshake")
        head += chunk
    status = head.split(b"\r\n", 1)[0].decode()
    if " 101 " not in status + " ":
        sys.exit(f"{url}: no upgrade: {status}")
    return sock, head.split(b"\r\n\r\n", 1)[1]


def frame(payload):
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def read_frame(sock, buffered):
    data = buffered
    while len(data) < 2:
        data += sock.recv(4096)
    length = data[1] & 0x7F
    while len(data) < 2 + length:
        data += sock.recv(4096)
    return data[2 : 2 + length], data[2 + length :]


def main():
    url, count = sys.argv[1], int(sys.argv[2])
    cafile = sys.argv[3] if len(sys.argv) > 3 else None
    sock, rest = connect(url, cafile)
    message = b"ping-0123456789abcdef"
    samples = []
    for i in range(count + 50):
        start = time.perf_counter()
        sock.sendall(frame(message))
        echoed, rest = read_frame(sock, rest)
        took = time.perf_counter() - start
        if echoed != message:
            sys.exit(f"{url}: echo mismatch: {echoed!r}")
        if i >= 50:  # the first round trips warm up caches and buffers
            samples.append(took * 1e6)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{statistics.median(samples):.0f} {p99:.0f}")


if __name__ == "__main__":
    main()
