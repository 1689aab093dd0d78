"""A lean keep-alive HTTP/1.1 client for latency benchmarks.

Why not httpx: at one connection a client's own cost lands in every
sample, on both sides of a ratio. httpx spends ~0.3-0.5 ms per request here,
more than a cached pricing answer takes, which squeezes a 15x ratio to 8x.
This client sends a pre-built request with one ``sendall`` and parses just
enough of the answer (status line, headers, ``content-length`` or chunked
body) to check it: ~30 µs of Python per request. Bench code only.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Http1Client:
    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.host = parts.netloc
        self.extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        return sock

    def get(self, path: str) -> Answer:
        """One GET; reconnects once if the kept-alive connection was closed."""
        request = f"GET {path} HTTP/1.1\r\nhost: {self.host}\r\n{self.extra}\r\n".encode("latin-1")
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = self._connect()
            try:
                self.sock.sendall(request)
                return self._read_answer()
            except (ConnectionError, EOFError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the server")
        self.buffer += data

    def _take_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _read_answer(self) -> Answer:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked_body()
        else:
            raise ValueError(f"unframed answer: {status_line}")
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, headers, body)

    def _chunked_body(self) -> bytes:
        parts = []
        while True:
            size = int(self._take_line().split(b";", 1)[0], 16)
            if size == 0:
                while self._take_line():  # trailers, then the empty line
                    pass
                return b"".join(parts)
            parts.append(self._take(size))
            self._take(2)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
