"""Benchmark of the strangler proxy against nginx and going direct.

Prints one JSON object. Everything runs on loopback, one worker each, in the
same run (the machine is shared and noisy: ratios measured together are
what count):

* upstream: an nginx (1 worker) answering a small JSON document;
* nginx as a reverse proxy (1 worker, keep-alive upstream pool);
* the strangler proxy (1 worker, ``legacy`` mode; route table in an
  embedded PostgreSQL, or ``STRANGLER_CONTROL_DATABASE_URL`` if set);
* wrk with one thread: throughput at 32 connections, p50 at 1 connection,
  p50/p99 at 64 connections, and p50 at 1 connection on a ``shadow`` route;
* identity continuity: a ``new`` route at 1 and 32 connections without
  ``Authorization`` and with ``Authorization: Token ...`` (resolved through
  the upstream's ``/_internal/identity/``, then cached for the TTL).

Installs nginx and wrk with apt-get when missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_stack.net import free_port  # noqa: E402
from local_stack.processes import ManagedProcess, http_ok, wait_until  # noqa: E402
from strangler_proxy.settings import ProxySettings  # noqa: E402

DURATION = os.environ.get("BENCH_DURATION", "5s")
TOKEN = "bench-token"


def ensure_tools() -> None:
    missing = [
        p
        for p, b in (("nginx", "nginx"), ("wrk", "wrk"))
        if shutil.which(b) is None and not Path(f"/usr/sbin/{b}").exists()
    ]
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    first_try = subprocess.run(["apt-get", "install", "-y", "-q", *missing], env=env, capture_output=True, check=False)
    if first_try.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], env=env, check=True, capture_output=True)


def nginx_bin() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def start_nginx(work: Path, name: str, server_block: str, workers: int = 1) -> ManagedProcess:
    d = work / name
    (d / "logs").mkdir(parents=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    {server_block}
}}
""")
    nginx = ManagedProcess(name, [nginx_bin(), "-c", str(conf), "-p", str(d)], log_file=d / "logs" / "stdout.log")
    return nginx.start()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, connections: int, header: str | None = None) -> dict[str, float]:
    extra = ["-H", header] if header else []
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{DURATION}", "--latency", *extra, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": pct["50"],
        "p99_ms": pct["99"],
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": sock_err.group(1) if sock_err else "",
    }


def main() -> None:
    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    procs: list[ManagedProcess] = []
    pg = None
    try:
        up_port, ngx_port, our_port, admin_port = free_port(), free_port(), free_port(), free_port()
        body = '{"item":"42","rate":117,"currency":"copper"}'
        who = '{"user_id":1,"username":"bench","player_id":1,"player_status":"A"}'
        procs.append(
            start_nginx(
                work,
                "upstream",
                f"""
    server {{ listen 127.0.0.1:{up_port}; location / {{ default_type application/json; return 200 '{body}'; }}
      location /_internal/identity/ {{ default_type application/json; return 200 '{who}'; }} }}""",
            )
        )
        procs.append(
            start_nginx(
                work,
                "rproxy",
                f"""
    upstream app {{ server 127.0.0.1:{up_port}; keepalive 128; }}
    server {{ listen 127.0.0.1:{ngx_port};
      location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}""",
            )
        )
        dsn = os.environ.get("STRANGLER_CONTROL_DATABASE_URL")
        if not dsn:
            from local_stack.postgres import EmbeddedPostgres

            pg = EmbeddedPostgres(work / "pg")
            pg.start()
            dsn = pg.create_database("bench_proxy")
        from new_services.platform.identity import ensure_key_file

        ensure_key_file(work / "identity-keys.json")
        settings = ProxySettings(
            port=our_port,
            admin_port=admin_port,  # the admin API and health: their own listener
            workers=1,
            legacy_url=f"http://127.0.0.1:{up_port}",
            services={"pricing": f"http://127.0.0.1:{up_port}"},
            control_database_url=dsn,
            admin_token=TOKEN,
            identity_keys=str(work / "identity-keys.json"),
            internal_token="bench-internal-token",
        )
        proxy = ManagedProcess(
            "proxy",
            [sys.executable, "-m", "strangler_proxy"],
            log_file=work / "proxy.log",
            env={**os.environ, **settings.render_env()},
            cwd=ROOT,
        )
        procs.append(proxy.start())
        direct = f"http://127.0.0.1:{up_port}/api/items/42/rate/"
        nginx = f"http://127.0.0.1:{ngx_port}/api/items/42/rate/"
        ours = f"http://127.0.0.1:{our_port}/api/items/42/rate/"
        ours_shadow = f"http://127.0.0.1:{our_port}/shadowed/42/"
        ours_new = f"http://127.0.0.1:{our_port}/moved/42/"
        token = "Authorization: Token bench-user-token"
        for url, process in ((direct, procs[0]), (nginx, procs[1])):
            wait_until(http_ok(url), timeout=20, what=url, watch=process)
        wait_until(http_ok(f"http://127.0.0.1:{admin_port}/_strangler/health"), timeout=20, what="proxy", watch=proxy)
        r = httpx.post(
            f"http://127.0.0.1:{admin_port}/_strangler/routes/set",
            headers={"authorization": f"Bearer {TOKEN}"},
            json={"route": "GET /shadowed/{id}/", "mode": "shadow", "service": "pricing", "reason": "bench"},
        )
        if r.status_code not in (200, 409):
            raise RuntimeError(f"could not set the shadow route: {r.status_code} {r.text}")
        r = httpx.post(
            f"http://127.0.0.1:{admin_port}/_strangler/routes/set",
            headers={"authorization": f"Bearer {TOKEN}"},
            json={"route": "GET /moved/{id}/", "mode": "new", "service": "pricing", "reason": "bench"},
        )
        if r.status_code not in (200, 409):
            raise RuntimeError(f"could not set the new route: {r.status_code} {r.text}")
        checked = httpx.get(ours_new, headers={"authorization": token.split(": ", 1)[1]})
        if checked.status_code != 200:
            raise RuntimeError(f"the new route with a token answered {checked.status_code} {checked.text}")
        for url in (direct, nginx, ours, ours_shadow, ours_new):  # warm up pools
            wrk_warm = subprocess.run(["wrk", "-t1", "-c8", "-d1s", url], capture_output=True, check=False)
            assert wrk_warm.returncode == 0
        res = {
            "direct_c1": wrk(direct, 1),
            "nginx_c1": wrk(nginx, 1),
            "ours_c1": wrk(ours, 1),
            "ours_shadow_c1": wrk(ours_shadow, 1),
            "nginx_c32": wrk(nginx, 32),
            "ours_c32": wrk(ours, 32),
            "ours_c64": wrk(ours, 64),
            "direct_c32": wrk(direct, 32),
            "ours_new_c1": wrk(ours_new, 1),
            "ours_new_token_c1": wrk(ours_new, 1, token),
            "ours_new_c32": wrk(ours_new, 32),
            "ours_new_token_c32": wrk(ours_new, 32, token),
        }
        ratio = res["ours_c32"]["rps"] / res["nginx_c32"]["rps"]
        added_p50 = res["ours_c1"]["p50_ms"] - res["direct_c1"]["p50_ms"]
        p99_over_p50 = res["ours_c64"]["p99_ms"] / res["ours_c64"]["p50_ms"]
        shadow_added = res["ours_shadow_c1"]["p50_ms"] - res["ours_c1"]["p50_ms"]
        identity_added = res["ours_new_token_c1"]["p50_ms"] - res["ours_new_c1"]["p50_ms"]
        identity_rps = res["ours_new_token_c32"]["rps"] / res["ours_new_c32"]["rps"]
        summary = {
            "throughput_ratio_vs_nginx_c32": round(ratio, 3),
            "added_p50_ms_c1_vs_direct": round(added_p50, 3),
            "p99_over_p50_c64": round(p99_over_p50, 2),
            "shadow_added_p50_ms_c1": round(shadow_added, 3),
            "identity_added_p50_ms_c1": round(identity_added, 3),
            "identity_rps_ratio_c32": round(identity_rps, 3),
            "targets": {
                "throughput_ratio >= 0.25": ratio >= 0.25,
                "added_p50 <= 0.3 ms": added_p50 <= 0.3,
                "p99 <= 10x p50 at 64": p99_over_p50 <= 10,
                "shadow adds < 0.1 ms": shadow_added < 0.1,
            },
        }
        print(json.dumps({"duration": DURATION, "cpus": os.cpu_count(), "results": res, "summary": summary}, indent=2))
    finally:
        for p in reversed(procs):
            p.stop(10)
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
