"""A tiny JSON upstream for proxy tests: ``python upstream_server.py NAME PORT``.

Threaded stdlib HTTP/1.1 server (keep-alive) so tests can kill it with a
signal. Behaviour:

* every answer is JSON ``{"upstream": NAME, "method", "path", "headers", "body"}``;
* ``?sleep=S`` waits S seconds, ``?status=N`` answers with status N
  (with ``&only=NAME``: only the upstream called NAME misbehaves);
* ``/api/items/<id>/rate/`` answers ``{"item", "rate", "as_of"}`` where
  ``as_of`` is random per call (planted noise) and, for the upstream named
  ``pricing``, item 13 has a different rate (planted mismatch);
* ``/big?n=N`` streams N bytes with chunked encoding;
* ``/__count`` says how many requests it has served (itself excluded).
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = "upstream"
COUNT = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in separate writes
    wbufsize = 64 * 1024  # ...or rather in one: flushed after each request

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        global COUNT
        url = urlsplit(self.path)
        if url.path == "/__count":
            data = json.dumps({"count": COUNT}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        COUNT += 1
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("content-length") or 0)
        body = b""
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        elif length:
            body = self.rfile.read(length)
        if q.get("only", NAME) != NAME:  # the misbehaviour is meant for another upstream
            q.pop("sleep", None)
            q.pop("status", None)
        if "sleep" in q:
            time.sleep(float(q["sleep"]))
        status = int(q.get("status", 200))
        parts = url.path.strip("/").split("/")
        if url.path == "/big":
            n = int(q.get("n", "1000000"))
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("x-upstream", NAME)
            self.end_headers()
            chunk = b"x" * 65536
            sent = 0
            while sent < n:
                part = chunk[: min(65536, n - sent)]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(part)
            self.wfile.write(b"0\r\n\r\n")
            return
        if len(parts) == 4 and parts[0] == "api" and parts[1] == "items" and parts[3] == "rate":
            item = parts[2]
            rate = 100 + (len(item) * 7)
            if NAME == "pricing" and item == "13":
                rate += 1
            payload = {"item": item, "rate": rate, "currency": "copper", "as_of": os.urandom(6).hex()}
        else:
            payload = {
                "upstream": NAME,
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-upstream", NAME)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer


def main() -> None:
    global NAME
    NAME = sys.argv[1]
    port = int(sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
