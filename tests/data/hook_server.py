#!/usr/bin/env python3
"""A hook server for tests/hooks.rs: records every request, answers as its path says.

    hook_server.py PORT LOG_FILE [SLOW_SECONDS]

Each request is appended to LOG_FILE as one JSON line: {"path", "body" (the parsed JSON body,
or the raw text), "received" (Unix seconds)}. Answers, by path:

    /allow       200, body 0                  (SRS's allow)
    /allow_json  200, body {"code": 0}        (SRS's allow, object form)
    /deny        200, body {"code": 1}        (refused)
    /error       500
    /slow        sleeps SLOW_SECONDS (default 10), then 200 0
    GET (any)    200 with a 4096-byte body, logged with "body": null (on_hls_notify)
    /by_stream   by the body's "stream": "slow*" as /slow, "deny*" as /deny, "error*" as
                 /error, anything else as /allow
    /by_token    "deny" when the body's tcUrl or param has token=bad, else /allow (an edge's
                 token traverse: the origin's on_connect decides)
    /forward/P1/P2...  on_forward's answer (SRS 5.0 dynamic forward): {"code": 0, "data":
                 {"urls": ["rtmp://127.0.0.1:P1/APP/STREAM?from=backend", ...]}} with the
                 body's app and stream

With HOOK_TLS_CERT and HOOK_TLS_KEY (PEM files) in the environment it speaks HTTPS (Python's
ssl, i.e. OpenSSL), for the https:// hooks of tests/tls.rs.

Prints "ready" on stdout once listening. Threads per request, so a slow answer holds only its
own connection.
"""

import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
LOG = sys.argv[2]
SLOW = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
LOCK = threading.Lock()


class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"path": self.path, "body": body, "received": time.time()}) + "\n")
        how = self.path.split("?")[0].strip("/")
        if how == "by_stream":
            stream = body.get("stream", "") if isinstance(body, dict) else ""
            how = next((k for k in ("slow", "deny", "error") if stream.startswith(k)), "allow")
        if how == "by_token":
            fields = [body.get(k) or "" for k in ("tcUrl", "param")] if isinstance(body, dict) else []
            how = "deny" if any("token=bad" in f for f in fields) else "allow"
        if how.startswith("forward/"):
            app = body.get("app", "") if isinstance(body, dict) else ""
            stream = body.get("stream", "") if isinstance(body, dict) else ""
            urls = ["rtmp://127.0.0.1:%s/%s/%s?from=backend" % (p, app, stream)
                    for p in how.split("/")[1:]]
            self.answer(200, json.dumps({"code": 0, "data": {"urls": urls}}).encode())
            return
        if how == "slow":
            time.sleep(SLOW)
            how = "allow"
        if how == "error":
            self.answer(500, b"internal error")
        elif how == "deny":
            self.answer(200, b'{"code": 1}')
        elif how == "allow_json":
            self.answer(200, b'{"code": 0}')
        else:
            self.answer(200, b"0")

    def do_GET(self):
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"path": self.path, "body": None, "received": time.time()}) + "\n")
        self.answer(200, b"x" * 4096)

    def answer(self, status, body):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the caller gave up (a timeout): nothing to answer


server = ThreadingHTTPServer(("127.0.0.1", PORT), Hook)
server.daemon_threads = True
if os.environ.get("HOOK_TLS_CERT"):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.environ["HOOK_TLS_CERT"], os.environ["HOOK_TLS_KEY"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
# Port 0 takes a free port from the kernel: the line says which.
print("ready", server.server_address[1], flush=True)
server.serve_forever()
