"""The proxy under load, each figure next to its baseline from the same run.

Prints one JSON object on stdout, progress on stderr. Everything on loopback:

* **2 workers against 2 workers**: the strangler proxy with
  ``STRANGLER_PROXY_WORKERS=2`` against nginx with ``worker_processes 2``,
  both in front of the same 1-worker nginx upstream, ``wrk -t2 -c64``;
* **shadow and canary under load** (what a client pays for them): ``wrk
  -t2 -c32`` on a ``legacy`` route (the baseline), a ``shadow`` route (legacy
  answers, the new side is called and compared) and a ``canary`` route at
  50% (wrk's Lua script sends one of 100 ``strangler_uid`` cookies, so users
  stick to a side as real ones do). The new side is the same nginx upstream,
  so the difference is the proxy's own work, not a slower backend;
* **memory per 1,000 idle keep-alive connections**: RSS of the whole process
  tree (supervisor and workers; nginx's master and workers as the baseline)
  before and after opening that many client connections that each made one
  request and then stay open and idle.

    .venv/bin/python bench/bench_proxy_load.py [--seconds 5] [--idle 1000]

Installs nginx and wrk with apt-get when missing (as bench_proxy.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from bench_proxy import _ms as latency_ms
from bench_proxy import ensure_tools, start_nginx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_stack.net import free_port  # noqa: E402
from local_stack.processes import ManagedProcess, http_ok, wait_until  # noqa: E402
from strangler_proxy.settings import ProxySettings  # noqa: E402

TOKEN = "bench-token"
BODY = '{"item":"42","rate":117,"currency":"copper"}'
#: wrk script: every request carries one of 100 fixed canary cookies (users stick to a side);
#: the requests are built once per thread, so the script costs wrk next to nothing per request.
CANARY_LUA = """
local reqs = {}
init = function(args)
  for i = 1, 100 do
    reqs[i] = wrk.format(nil, nil, {["Cookie"] = string.format("strangler_uid=benchuser%08d", i)})
  end
end
local n = 0
request = function()
  n = n % 100 + 1
  return reqs[n]
end
"""


def say(message: str) -> None:
    print(f"[bench_proxy_load] {message}", file=sys.stderr, flush=True)


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and every descendant, in KiB (from /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
    return total


def _read_response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response with a Content-Length (what these upstreams send)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return head


@contextlib.contextmanager
def idle_connections(port: int, count: int, path: str) -> Iterator[int]:
    """``count`` keep-alive connections, each answered once and left open;
    yields how many stayed open. All are closed on exit."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(sock)
            sock.sendall(request)
            head = _read_response(sock)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"idle connection {len(socks)}: {head.splitlines()[0]!r}")
        yield len(socks)
    finally:
        for sock in socks:
            sock.close()


def rss_per_idle(pid: int, port: int, count: int, path: str) -> dict[str, float]:
    """RSS growth of ``pid``'s tree per 1,000 idle keep-alive connections."""
    before = tree_rss_kib(pid)
    with idle_connections(port, count, path) as opened:
        during = tree_rss_kib(pid)
    return {
        "connections": opened,
        "rss_before_kib": before,
        "rss_with_connections_kib": during,
        "kib_per_1000": round((during - before) * 1000 / opened, 1),
    }


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


class Proxy:
    """The strangler proxy as a child process, with its admin calls."""

    def __init__(self, work: Path, upstream: str, dsn: str, workers: int) -> None:
        self.port = free_port()
        self.settings = ProxySettings(
            port=self.port,
            admin_port=free_port(),  # the admin API and health: their own listener
            workers=workers,
            legacy_url=upstream,
            services={"pricing": upstream},
            control_database_url=dsn,
            admin_token=TOKEN,
        )
        self.admin = f"http://127.0.0.1:{self.settings.admin_port}"
        self.process = ManagedProcess(
            f"proxy-{workers}w",
            [sys.executable, "-m", "strangler_proxy"],
            log_file=work / f"proxy-{workers}w.log",
            env={**os.environ, **self.settings.render_env()},
            cwd=ROOT,
        )

    def start(self) -> Proxy:
        self.process.start()
        wait_until(http_ok(f"{self.admin}/_strangler/health"), timeout=30, what="proxy", watch=self.process)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set_route(self, route: str, mode: str, weight: int | None = None) -> int:
        """Sets a route; returns the route table version it created."""
        body: dict[str, Any] = {"route": route, "mode": mode, "service": "pricing", "reason": "bench"}
        if weight is not None:
            body["weight"] = weight
        answer = httpx.post(
            f"{self.admin}/_strangler/routes/set", headers={"authorization": f"Bearer {TOKEN}"}, json=body
        )
        if answer.status_code != 200:
            raise RuntimeError(f"could not set {route} to {mode}: {answer.status_code} {answer.text}")
        return int(answer.json().get("version", 0))

    def wait_for_version(self, version: int, workers: int) -> None:
        """Until every worker (told apart by pid) serves route table ``version``."""
        seen: dict[int, int] = {}

        def every_worker_has_it() -> bool:
            with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
                body = client.get(f"{self.admin}/_strangler/health").json()
            seen[int(body["pid"])] = int(body["version"])
            return len(seen) >= workers and all(v >= version for v in seen.values())

        wait_until(every_worker_has_it, timeout=20, what=f"route table v{version} in {workers} workers")


def wrk(url: str, connections: int, seconds: float, threads: int, script: Path | None = None) -> dict[str, Any]:
    """One wrk run: req/s, p50/p99 and the errors it saw."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    argv += ["-s", str(script)] if script else []
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {p: latency_ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": pct["50"],
        "p99_ms": pct["99"],
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def warm(url: str, script: Path | None = None) -> None:
    wrk(url, 8, 1, 1, script)


def measure_workers(proxy: Proxy, nginx_port: int, seconds: float) -> dict[str, Any]:
    """Throughput and latency at 64 connections, 2 workers each, taking turns."""
    ours, theirs = proxy.url("/api/items/42/rate/"), f"http://127.0.0.1:{nginx_port}/api/items/42/rate/"
    warm(ours), warm(theirs)
    nginx = wrk(theirs, 64, seconds, 2)
    strangler = wrk(ours, 64, seconds, 2)
    return {
        "nginx_2w_c64": nginx,
        "proxy_2w_c64": strangler,
        "rps_ratio_proxy_over_nginx": round(strangler["rps"] / nginx["rps"], 3),
    }


def measure_modes(proxy: Proxy, seconds: float, work: Path) -> dict[str, Any]:
    """legacy (baseline), shadow and canary 50% at 32 connections."""
    version = proxy.set_route("GET /shadowed/{id}/", "shadow")
    version = max(version, proxy.set_route("GET /canary/{id}/", "canary", weight=50))
    proxy.wait_for_version(version, proxy.settings.workers)
    script = work / "canary.lua"
    script.write_text(CANARY_LUA)
    # the same Lua script (and cookie) for every mode: wrk's per-request Lua is not free
    urls = {
        "legacy": (proxy.url("/api/items/42/rate/"), script),
        "shadow": (proxy.url("/shadowed/42/"), script),
        "canary_50": (proxy.url("/canary/42/"), script),
    }
    for url, lua in urls.values():
        warm(url, lua)
    runs = {mode: wrk(url, 32, seconds, 2, lua) for mode, (url, lua) in urls.items()}
    base = runs["legacy"]
    out: dict[str, Any] = {f"{mode}_c32": run for mode, run in runs.items()}
    for mode in ("shadow", "canary_50"):
        out[f"{mode}_rps_ratio_vs_legacy"] = round(runs[mode]["rps"] / base["rps"], 3)
        out[f"{mode}_added_p50_ms"] = round(runs[mode]["p50_ms"] - base["p50_ms"], 3)
        out[f"{mode}_added_p99_ms"] = round(runs[mode]["p99_ms"] - base["p99_ms"], 3)
    return out


def control_database(work: Path, stack: contextlib.ExitStack) -> str:
    dsn = os.environ.get("STRANGLER_CONTROL_DATABASE_URL")
    if dsn:
        return dsn
    from local_stack.postgres import EmbeddedPostgres

    pg = EmbeddedPostgres(work / "pg")
    pg.start()
    stack.callback(pg.stop)
    return str(pg.create_database("bench_proxy_load"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="per wrk run")
    parser.add_argument("--idle", type=int, default=1000, help="idle keep-alive connections for the memory figure")
    args = parser.parse_args()
    ensure_tools()
    raise_fd_limit(2 * args.idle + 1024)
    work = Path(tempfile.mkdtemp(prefix="bench-proxy-load-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        up_port, ngx_port = free_port(), free_port()
        upstream_server = f"""
    server {{ listen 127.0.0.1:{up_port}; location / {{ default_type application/json; return 200 '{BODY}'; }} }}"""
        upstream = stack.enter_context(_stopping(start_nginx(work, "upstream", upstream_server)))
        rproxy = stack.enter_context(
            _stopping(
                start_nginx(
                    work,
                    "rproxy",
                    f"""
    upstream app {{ server 127.0.0.1:{up_port}; keepalive 128; }}
    server {{ listen 127.0.0.1:{ngx_port} reuseport;
      location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}""",
                    workers=2,
                )
            )
        )
        for port, process in ((up_port, upstream), (ngx_port, rproxy)):
            wait_until(http_ok(f"http://127.0.0.1:{port}/"), timeout=20, what=f"nginx :{port}", watch=process)
        dsn = control_database(work, stack)
        proxy = Proxy(work, f"http://127.0.0.1:{up_port}", dsn, workers=2).start()
        stack.callback(proxy.process.stop, 10)
        say(f"2 workers against 2 workers, wrk -t2 -c64 for {args.seconds:g}s each")
        workers = measure_workers(proxy, ngx_port, args.seconds)
        say(f"legacy, shadow and canary 50% routes, wrk -t2 -c32 for {args.seconds:g}s each")
        modes = measure_modes(proxy, args.seconds, work)
        say(f"RSS with {args.idle} idle keep-alive connections (proxy, then nginx)")
        path = "/api/items/42/rate/"
        proxy_pid, nginx_pid = proxy.process.pid, rproxy.pid
        assert proxy_pid is not None and nginx_pid is not None
        memory = {
            "proxy_2w": rss_per_idle(proxy_pid, proxy.port, args.idle, path),
            "nginx_2w": rss_per_idle(nginx_pid, ngx_port, args.idle, path),
        }
        memory["rss_ratio_proxy_over_nginx_with_connections"] = round(
            memory["proxy_2w"]["rss_with_connections_kib"] / memory["nginx_2w"]["rss_with_connections_kib"], 2
        )
        result = {
            "benchmark": "proxy_load",
            "seconds_per_run": args.seconds,
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
            "workers": workers,
            "modes": modes,
            "memory_per_1000_idle": memory,
            "notes": [
                "everything shares one machine with wrk: ratios measured together are what count",
                "the new side of shadow and canary is the same nginx upstream as legacy: the cost shown is the "
                "proxy's (second request, comparison, bucketing, cookies), not a slower backend",
                "memory: VmRSS of the whole process tree (supervisor + workers, nginx master + workers); nginx "
                "allocates its connection slots at start (worker_connections), so its growth per connection is "
                "near zero and the ratio given is of the whole trees with the connections open",
            ],
        }
        print(json.dumps(result, indent=2))


@contextlib.contextmanager
def _stopping(process: ManagedProcess) -> Iterator[ManagedProcess]:
    try:
        yield process
    finally:
        process.stop(10)


if __name__ == "__main__":
    main()
