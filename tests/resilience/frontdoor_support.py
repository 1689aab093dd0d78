"""Helpers for the front-door resilience tests: a recording upstream, a real
proxy process in front of it, and a raw-socket client.

The proxy runs as ``python -m strangler_proxy`` exactly as ``strangler up``
starts it, with deadlines shortened (fractions of a second) so slowloris
cases finish fast. Its only upstream is a ``RecordingUpstream`` in this
process: a real HTTP/1.1 server on loopback that keeps every request head it
is handed, so a test can assert that a refused request never reached it.
Hostile requests are written as raw bytes, because an HTTP client library
would refuse to send most of them.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from local_stack.net import free_port
from local_stack.processes import ManagedProcess, wait_until
from strangler_proxy.settings import ProxySettings

REPO = Path(__file__).resolve().parents[2]
TOKEN = "resilience-admin-token-5f1c0a9e77"
OTHER_STACK_TOKEN = "another-stacks-admin-token-1b2d3f"
#: Short deadlines: every slow case ends well under a second.
SHORT_TIMEOUT_S = 0.5
MAX_BODY = 1024


# -- the recording upstream ---------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request head as the upstream received it."""

    requestline: bytes
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Recorder:
    """Every request the upstream was handed, thread-safe."""

    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Seen) -> None:
        with self.lock:
            self.seen.append(item)

    def count(self) -> int:
        with self.lock:
            return len(self.seen)

    def since(self, mark: int) -> list[Seen]:
        with self.lock:
            return list(self.seen[mark:])


class _RecordingHandler(BaseHTTPRequestHandler):
    """Records the head the moment it is parsed (before any body), then
    answers 200 with a small JSON echo. Any method is served."""

    protocol_version = "HTTP/1.1"
    server: _RecordingServer

    def log_message(self, *args: object) -> None:
        pass

    def parse_request(self) -> bool:
        ok = super().parse_request()
        headers = list(self.headers.items()) if ok else []
        self.server.recorder.add(Seen(bytes(self.raw_requestline), headers))
        return ok

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _serve(self) -> None:
        body = self._read_body()
        data = json.dumps({"method": self.command, "path": self.path, "body_bytes": len(body)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _RecordingServer(ThreadingHTTPServer):
    daemon_threads = True
    recorder: Recorder


@dataclass
class RecordingUpstream:
    server: _RecordingServer
    thread: threading.Thread

    @property
    def recorder(self) -> Recorder:
        return self.server.recorder

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def start_recording_upstream() -> RecordingUpstream:
    server = _RecordingServer(("127.0.0.1", 0), _RecordingHandler)
    server.recorder = Recorder()
    thread = threading.Thread(target=server.serve_forever, name="recording-upstream", daemon=True)
    thread.start()
    return RecordingUpstream(server, thread)


# -- the proxy ------------------------------------------------------------------------


@dataclass
class FrontDoor:
    """A running proxy: public port, admin port, its log."""

    port: int
    admin_port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def log(self) -> str:
        return self.process.log

    def healthy(self) -> bool:
        try:
            return httpx.get(self.admin_url + "/_strangler/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


def start_front_door(upstream_url: str, control_dsn: str, log_path: Path, **overrides: str) -> FrontDoor:
    """``python -m strangler_proxy`` with short deadlines, returns once its
    admin listener says it is healthy. ``overrides``: extra environment."""
    settings = ProxySettings(
        port=free_port(),
        admin_port=free_port(),
        legacy_url=upstream_url,
        control_database_url=control_dsn,
        admin_token=TOKEN,
        access_log=True,  # every request logged: the token must still never appear
        header_timeout_s=SHORT_TIMEOUT_S,
        body_timeout_s=SHORT_TIMEOUT_S,
        keepalive_timeout_s=SHORT_TIMEOUT_S,
        max_body_bytes=MAX_BODY,
        max_header_bytes=4096,
        admin_auth_burst=5,
        admin_auth_refill_s=30.0,
    )
    env = {**_clean_environ(), **settings.render_env(), **overrides}
    process = ManagedProcess("proxy", [sys.executable, "-m", "strangler_proxy"], log_file=log_path, env=env, cwd=REPO)
    door = FrontDoor(settings.port, settings.admin_port, process.start())
    try:
        wait_until(door.healthy, timeout=20, what="the proxy", watch=process, interval=0.05)
    except BaseException:
        process.stop()
        raise
    return door


def _clean_environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_")}


# -- a raw client ----------------------------------------------------------------------


@dataclass
class Reply:
    """What came back on one connection: the first answer (if any) and
    whether the proxy closed the connection."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    closed: bool

    @property
    def from_upstream(self) -> bool:
        """Answered by an upstream (the proxy stamps it), not by the proxy itself."""
        return "x-strangler-upstream" in self.headers


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_reply(sock: socket.socket, *, deadline_s: float = 5.0) -> Reply:
    """Read one answer, then (if it says close) wait for the close; all
    within ``deadline_s``. A connection that neither answers nor closes in
    time comes back as ``status=None, closed=False``."""
    end = time.monotonic() + deadline_s
    data = b""
    closed = False
    while b"\r\n\r\n" not in data:
        chunk = _recv_until(sock, end)
        if chunk is None:
            return Reply(None, {}, data, closed=False)
        if not chunk:
            return Reply(None, {}, data, closed=True)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = _recv_until(sock, end)
        if not chunk:
            closed = chunk is not None
            break
        body += chunk
    if headers.get("connection", "").lower() == "close" and not closed:
        closed = wait_closed(sock, max(0.0, end - time.monotonic()))
    return Reply(status, headers, body[:length], closed)


def wait_closed(sock: socket.socket, timeout: float) -> bool:
    """True once the peer has closed (EOF or reset) within ``timeout``;
    stray bytes before the close are dropped."""
    end = time.monotonic() + timeout
    while True:
        chunk = _recv_until(sock, end)
        if chunk is None:
            return False
        if not chunk:
            return True


def _recv_until(sock: socket.socket, end: float) -> bytes | None:
    """Bytes, b"" on close (or reset), None when ``end`` passed."""
    left = end - time.monotonic()
    if left <= 0:
        return None
    sock.settimeout(left)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return None
    except ConnectionError:
        return b""


def exchange(port: int, raw: bytes, *, deadline_s: float = 5.0) -> Reply:
    """One connection: send ``raw``, read the answer and the close."""
    with connect(port) as sock:
        try:
            sock.sendall(raw)
        except ConnectionError:
            return Reply(None, {}, b"", closed=True)
        return read_reply(sock, deadline_s=deadline_s)


def request(method: str, target: str, headers: Mapping[str, str] | None = None, body: bytes = b"") -> bytes:
    """Raw request bytes (``headers`` verbatim; Host added unless given)."""
    given = dict(headers or {})
    given.setdefault("Host", "shop.test")
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in given.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``predicate`` until true or fail after ``timeout`` seconds."""
    wait_until(predicate, timeout=timeout, what=what, interval=0.01)
