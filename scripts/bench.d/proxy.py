#!/usr/bin/env python3
"""A recording HTTP proxy for scripts/bench: forwards every request to moto and counts
the AWS operations that pass through it.

usage: proxy.py --upstream http://127.0.0.1:PORT --port-file FILE [--log FILE]

Listens on 127.0.0.1 (a free port, written to --port-file once it listens). Each
request is forwarded as is (method, path, headers, body) over a kept-alive connection
per client thread, and counted as "service:Operation":
  - the operation from the X-Amz-Target header ("AmazonSSM.GetParameter") or from the
    Action= field of the query string or of a form-encoded body (the Query protocol of
    CloudFormation, EC2, ...) or from the path of Smithy RPCv2 CBOR
    (/service/<service>/operation/<Operation>: CloudWatch); otherwise
    "METHOD /first/path/segment" (REST APIs);
  - the service from the SigV4 credential scope of the Authorization header.
It also adds up, per operation, the seconds moto took to answer (from forwarding the
request to reading the whole response), which tells a client's own time from moto's.
With --log, one line per request: seconds since the proxy started, the operation,
the HTTP status, the seconds moto took.
Control (never forwarded): GET /__bench/counts returns {"calls": {operation: count},
"seconds": {operation: seconds}}; POST /__bench/reset clears both.
"""
import argparse
import http.client
import http.server
import json
import os
import re
import socket
import threading
import time
import urllib.parse
from collections import Counter

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailers", "transfer-encoding", "upgrade",
}
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
# Smithy RPCv2 CBOR (CloudWatch): POST /service/<service>/operation/<Operation>
RPCV2 = re.compile(r"^/service/[^/]+/operation/([^/]+)$")

counts = Counter()
seconds = Counter()
counts_lock = threading.Lock()
log_file = None
started = time.monotonic()


def operation(method, path, headers, body):
    """The AWS operation of one request, as "service:Operation"."""
    match = SCOPE.search(headers.get("Authorization", ""))
    service = match.group(1) if match else "?"
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    url = urllib.parse.urlsplit(path)
    rpcv2 = RPCV2.match(url.path)
    if rpcv2:
        return f"{service}:{rpcv2.group(1)}"
    fields = urllib.parse.parse_qs(url.query)
    if "Action" not in fields and "x-www-form-urlencoded" in headers.get("Content-Type", ""):
        fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    if "Action" in fields:
        return f"{service}:{fields['Action'][0]}"
    segment = url.path.strip("/").split("/", 1)[0]
    return f"{service}:{method} /{segment}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None  # (host, port), set in main

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # No Nagle: with it, a response written in two parts (headers, body) waits for
        # the client's delayed ACK (40 ms on Linux), which would be counted against the
        # client as its own time.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _connection(self, fresh=False):
        if fresh or getattr(self, "_upstream_conn", None) is None:
            self._upstream_conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        return self._upstream_conn

    def _reply(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/__bench/"):
            with counts_lock:
                if self.path == "/__bench/reset":
                    counts.clear()
                    seconds.clear()
                    if log_file:
                        log_file.write("--- counts reset\n")
                        log_file.flush()
                payload = json.dumps(
                    {"calls": dict(counts), "seconds": {k: round(v, 6) for k, v in seconds.items()}},
                    sort_keys=True,
                ).encode()
            return self._reply(200, payload)
        name = operation(self.command, self.path, self.headers, body)
        with counts_lock:
            counts[name] += 1
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        start = time.monotonic()
        for attempt in (0, 1):
            conn = self._connection(fresh=attempt == 1)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                took = time.monotonic() - start
                with counts_lock:
                    seconds[name] += took
                    if log_file:
                        log_file.write(f"{start - started:10.3f} {name} {response.status} {took:.3f}\n")
                        log_file.flush()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                if attempt == 1:
                    return self._reply(502, b"bench proxy: upstream failed", "text/plain")
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log")
    args = parser.parse_args()
    global log_file
    if args.log:
        log_file = open(args.log, "a")
    upstream = urllib.parse.urlsplit(args.upstream)
    Handler.upstream = (upstream.hostname, upstream.port)
    # A listen backlog for 20 services connecting at once: Python's default of 5
    # dropped connections, and each client retried a second later (measured:
    # 20 concurrent deploys took 1.4 s through the proxy instead of 0.6 s).
    http.server.ThreadingHTTPServer.request_queue_size = 128
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
