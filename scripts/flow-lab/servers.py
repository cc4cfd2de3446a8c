#!/usr/bin/env python3
"""Small real servers for the flow lab (run inside a network namespace).

  servers.py http  --bind IP [--bind IP...] --port P   GET: body of ?bytes=N (default 2-150 kB); POST/PUT: body discarded
  servers.py dns   --bind IP                           A records from NAMES, empty AAAA, NXDOMAIN otherwise
  servers.py udp   --bind IP --port P [--reply N]      reply N bytes to each datagram (0 = silent sink)
  servers.py ntp-query SERVER                          one NTP-sized request/response (client side)
"""
import argparse
import hashlib
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

NAMES = {
    "www.example.com": "192.0.2.10",
    "news.example.org": "192.0.2.11",
    "cdn.example.net": "192.0.2.12",
    "mirror.example.com": "192.0.2.20",
    "ntp.example.net": "192.0.2.123",
    "bastion.example.com": "198.51.100.23",
    "api.example.org": "198.51.100.40",
    "update-check.example.net": "203.0.113.200",
}
DNS_TTL = 20
CHUNK = bytes(range(256)) * 256


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        if "bytes" in q:
            size = int(q["bytes"][0])
        else:
            # Pages of stable but varied size, like a real site.
            h = int(hashlib.sha1(url.path.encode()).hexdigest()[:8], 16)
            size = 2000 + h % 150000
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        left = size
        while left > 0:
            n = min(left, len(CHUNK))
            self.wfile.write(CHUNK[:n])
            left -= n

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        left = length
        while left > 0:
            got = self.rfile.read(min(left, 65536))
            if not got:
                break
            left -= len(got)
        body = b'{"ok":true}\n'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST


def serve_http(binds, port):
    servers = [ThreadingHTTPServer((b, port), Handler) for b in binds]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def parse_qname(data):
    labels, i = [], 12
    while data[i] != 0:
        n = data[i]
        labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype = struct.unpack("!H", data[i + 1:i + 3])[0]
    return ".".join(labels).lower(), qtype, i + 5


def dns_answer(data):
    name, qtype, end = parse_qname(data)
    question = data[12:end]
    ip = NAMES.get(name)
    flags = 0x8180 if ip else 0x8183
    answers = b""
    if ip and qtype == 1:
        answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, DNS_TTL, 4) + socket.inet_aton(ip)
    header = data[:2] + struct.pack("!HHHHH", flags, 1, 1 if answers else 0, 0, 0)
    return header + question + answers


def serve_dns(bind):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, 53))
    while True:
        data, peer = s.recvfrom(4096)
        try:
            s.sendto(dns_answer(data), peer)
        except (IndexError, struct.error):
            pass


def serve_udp(bind, port, reply):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((bind, port))
    while True:
        _, peer = s.recvfrom(65535)
        if reply:
            s.sendto(b"\x24" + b"\x00" * (reply - 1), peer)


def ntp_query(server):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"\x23" + b"\x00" * 47, (server, 123))
    try:
        s.recvfrom(512)
    except socket.timeout:
        sys.exit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["http", "dns", "udp", "ntp-query"])
    p.add_argument("target", nargs="?")
    p.add_argument("--bind", action="append", default=[])
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--reply", type=int, default=0)
    a = p.parse_args()
    if a.mode == "http":
        serve_http(a.bind or ["0.0.0.0"], a.port)
    elif a.mode == "dns":
        serve_dns(a.bind[0])
    elif a.mode == "udp":
        serve_udp(a.bind[0], a.port, a.reply)
    else:
        ntp_query(a.target)


if __name__ == "__main__":
    main()
