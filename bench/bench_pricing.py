"""Benchmark of the pricing read model against the monolith, on one stack.

Starts ``strangler up --seed-sales N`` (a child process, temporary state
dir, free loopback ports) and measures, in one run:

1. **build**: the read model built from the events (CDC snapshot -> ACL ->
   ``SaleRecorded`` -> pricing's projector), from pricing's first ``/healthz``
   answer (the projector has just started) until ``/readyz`` says ready with
   ``events_applied >= N`` and pricing's ``sales`` table holds the N sales.
   The seeding (inside ``strangler up``, before any service starts) is
   reported separately.
2. **reads** through the proxy, for ``GET /api/items/{id}/rate/`` and
   ``GET /api/items/{id}/history/?interval=1h&days=7`` over random sold
   items: p50/p99 at 1 connection (sequential keep-alive requests from a
   lean raw-socket client, ``_http1_client.py``, after a warm-up, taking turns with the same request sent straight to the
   backends) and req/s at 32 connections (wrk, one thread, a Lua script
   picking a random item per request), first with the route in ``legacy``
   mode, then flipped to ``new`` (service pricing) through the admin API.
   Every answer is checked (status 200, and the proxy's
   ``x-strangler-upstream`` header names the expected side); the same
   sequential timing straight to pricing and to the monolith (no proxy)
   shows where the time goes.
3. **lag**: commit of a sale in the monolith's database (plain SQL INSERT
   into ``smp_sale``, own transaction, ``sld_at`` = Europe/Paris wall clock
   like the monolith) -> the row visible in pricing's ``sales`` table, at a
   paced write rate; a thread polls pricing's database every ~5 ms.

One JSON object on stdout, progress on stderr. The stack is stopped with
SIGTERM at the end, whatever happens (SIGTERM to this script included)::

    .venv/bin/python bench/bench_pricing.py [--sales 1000000] [--requests 2000]
        [--wrk-seconds 10] [--lag-rate 500] [--lag-seconds 30]

Needs ``wrk`` (installed with apt-get when missing, like bench_proxy.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _cdc_bench_stack import LoadSampler, cpu_seconds, say  # noqa: E402
from _http1_client import Answer, Http1Client  # noqa: E402
from bench_cdc_lag import percentile  # noqa: E402
from bench_proxy import _ms  # noqa: E402

from local_stack.net import free_port  # noqa: E402
from local_stack.processes import NotReady, wait_until  # noqa: E402
from local_stack.services import NEW_SERVICES  # noqa: E402
from local_stack.settings import StackSettings  # noqa: E402

ENDPOINTS = {
    "rate": ("GET /api/items/{id}/rate/", "/rate/"),
    "history": ("GET /api/items/{id}/history/", "/history/?interval=1h&days=7"),
}
# Variables that would make ``strangler up`` use existing servers instead of
# its embedded parts, or point the admin client elsewhere.
FOREIGN_ENV = (
    "STRANGLER_LEGACY_DATABASE_URL",
    "STRANGLER_CONTROL_DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "STRANGLER_PRICING_DATABASE_URL",
    "STRANGLER_PROXY_URL",
    "STRANGLER_ADMIN_TOKEN",
)


def _exit_on_sigterm(*_: Any) -> None:
    raise SystemExit(143)  # run the finally blocks: stop the stack


def stats(values_ms: list[float]) -> dict[str, float | None]:
    ordered = sorted(values_ms)
    if not ordered:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    return {
        "p50_ms": round(percentile(ordered, 50), 3),
        "p90_ms": round(percentile(ordered, 90), 3),
        "p99_ms": round(percentile(ordered, 99), 3),
        "max_ms": round(ordered[-1], 3),
        "mean_ms": round(sum(ordered) / len(ordered), 3),
    }


# -- the stack ------------------------------------------------------------------


class Stack:
    """``strangler up`` as a child; its output lines are timestamped."""

    def __init__(self, state: Path, sales: int) -> None:
        self.state = state
        parts = ("proxy", "legacy", "postgres", "kafka", *(spec.name for spec in NEW_SERVICES))
        self.ports = {name: free_port() for name in parts}
        ports = StackSettings(
            state_dir=state,
            seed_sales=sales,
            proxy_port=self.ports["proxy"],
            legacy_port=self.ports["legacy"],
            postgres_port=self.ports["postgres"],
            kafka_port=self.ports["kafka"],
            service_ports={spec.name: self.ports[spec.name] for spec in NEW_SERVICES},
        )
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
        env.update(ports.render_env())
        env["PYTHONPATH"] = str(ROOT)
        self.lines: list[tuple[float, str, str]] = []
        self.log = open(state / "up.log", "a", buffering=1)  # noqa: SIM115 -- outlives __init__: closed when the stack stops
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "strangler_cli", "up", "--state-dir", str(state), "--seed-sales", str(sales)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for stream, name in ((self.proc.stdout, "out"), (self.proc.stderr, "err")):
            threading.Thread(target=self._pump, args=(stream, name), daemon=True).start()
        self.pricing = f"http://127.0.0.1:{self.ports['pricing']}"

    def _pump(self, stream: Any, name: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            self.lines.append((time.monotonic(), name, line))
            self.log.write(f"{time.monotonic() - self.started:9.3f} {name} {line}\n")

    def first_line(self, needle: str) -> float | None:
        """Seconds since launch of the first output line containing ``needle``."""
        for at, _, line in list(self.lines):
            if needle in line:
                return at - self.started
        return None

    def seed_summary(self) -> dict[str, Any] | None:
        for _, name, line in list(self.lines):
            if name == "out" and line.startswith("{") and "sales_per_second" in line:
                try:
                    return json.loads(line)
                except ValueError:
                    return None
        return None

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = "\n".join(line for _, _, line in self.lines[-30:])
            raise SystemExit(f"strangler up exited with {self.proc.returncode}:\n{tail}")

    def endpoints(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.state / "endpoints.json").read_text())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            say("stopping the stack (SIGTERM to strangler up)")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                say("strangler up did not stop within 120 s: SIGKILL (its children die with it)")
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


_POLL = httpx.Client(timeout=2.0)  # one client: a fresh one per poll costs ~10 ms of CPU (TLS context)


def get_json(url: str, timeout: float = 2.0) -> tuple[int, Any] | None:
    try:
        r = _POLL.get(url, timeout=timeout)
    except httpx.HTTPError:
        return None
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, None


def count_sales(stack: Stack) -> int | None:
    """Rows in pricing's sales table, once endpoints.json names its database."""
    endpoints = stack.endpoints()
    if endpoints is None:
        return None
    with psycopg.connect(endpoints["databases"]["pricing"]) as conn:
        return int(conn.execute("SELECT count(*) FROM sales").fetchone()[0])


PIPELINE = ("cdc-relay", "acl", "kafka", "pricing-projector")


def pipeline_cpu(stack: Stack) -> dict[str, float]:
    endpoints = stack.endpoints() or {}
    out = {}
    for name, pid in endpoints.get("processes", {}).items():
        used = cpu_seconds(pid) if name in PIPELINE else None
        if used is not None:
            out[name] = used
    return out


def measure_build(stack: Stack, sales: int, args: argparse.Namespace) -> dict[str, Any]:
    """Time the read model's build; gives up (and says so) on the timeout or
    when it gains fewer than ``--stall-rate`` events/s over ``--stall-seconds``."""
    timeout = args.build_timeout or 900 + sales / 400
    deadline = time.monotonic() + timeout

    def healthy() -> bool:
        stack.check_alive()
        answer = get_json(f"{stack.pricing}/healthz", timeout=1)
        return answer is not None and answer[0] == 200

    try:
        wait_until(healthy, timeout=timeout, what="pricing /healthz")
    except NotReady as late:
        raise SystemExit(str(late)) from None
    health_at = time.monotonic()
    say(f"pricing answers /healthz {health_at - stack.started:.1f}s after launch; waiting for the read model")
    ready_at, body, next_report, gave_up = None, None, 0.0, None
    progress: list[tuple[float, int, dict[str, float]]] = []  # (time, events applied, cpu seconds) every 10 s
    in_table = None
    while ready_at is None:
        stack.check_alive()
        now = time.monotonic()
        answer = get_json(f"{stack.pricing}/readyz")
        if answer is not None and isinstance(answer[1], dict):
            body = answer[1]
            if body.get("ready") and int(body.get("events_applied") or 0) >= sales:
                # events_applied counts every event (listings, items too): the
                # sales table is the proof, counted only once this holds.
                in_table = count_sales(stack)
                if in_table is not None and in_table >= sales:
                    ready_at = time.monotonic()
                    break
        if now >= next_report:
            applied = int(body.get("events_applied") or 0) if body else 0
            lag = (body.get("lag") or {}).get("events") if body else None
            say(f"  read model: {applied} events applied, lag {lag}")
            progress.append((now, applied, pipeline_cpu(stack)))
            next_report = now + 10
            window = [p for p in progress if p[0] >= now - args.stall_seconds - 1]
            if now - health_at >= args.stall_seconds and window[-1][0] - window[0][0] >= args.stall_seconds - 11:
                rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
                if rate < args.stall_rate:
                    gave_up = f"stalled: {rate:.0f} events/s over the last {args.stall_seconds:.0f}s"
            if now > deadline:
                gave_up = f"not built within {deadline - health_at:.0f}s"
            if gave_up:
                say(f"giving up on the build: {gave_up}")
                break
        time.sleep(0.5)
    end = ready_at or time.monotonic()

    def stack_up() -> bool:  # the launcher writes endpoints.json once the proxy is up
        stack.check_alive()
        return stack.endpoints() is not None

    wait_until(stack_up, timeout=600, what="endpoints.json", interval=0.2)
    if in_table is None or ready_at is None:
        in_table = count_sales(stack)
    build = end - health_at
    seed = stack.seed_summary()
    seed_started, seed_done = stack.first_line("seeding the market"), stack.first_line("starting the legacy monolith")
    cpu = pipeline_cpu(stack)
    shares: dict[str, Any] = {}
    if len(progress) >= 2:  # CPU share (1.0 = one core) of each part over the last minute of the build
        t0, _, c0 = next(p for p in progress if p[0] >= progress[-1][0] - 61)
        t1, _, c1 = progress[-1]
        if t1 > t0:
            shares = {k: round((c1[k] - c0[k]) / (t1 - t0), 2) for k in c1 if k in c0}
    return {
        "completed": ready_at is not None,
        "gave_up": gave_up,
        "from": "pricing /healthz first 200 (projector just started)",
        "until": "pricing /readyz ready with events_applied >= sales and its sales table holding them all",
        "seconds": round(build, 2),
        "sales_per_second": round(sales / build, 1) if ready_at and build > 0 else None,
        "events_applied": body.get("events_applied") if body else None,
        "projector_lag_events": (body.get("lag") or {}).get("events") if body else None,
        "sales_in_read_model": in_table,
        "sales_in_read_model_per_second": round(in_table / build, 1) if in_table and build > 0 else None,
        "events_applied_every_60s": [p[1] for p in progress[::6]],
        "launch_to_pricing_healthz_seconds": round(health_at - stack.started, 2),
        "launch_to_end_seconds": round(end - stack.started, 2),
        "seed": {
            "seconds": seed.get("seconds") if seed else None,
            "sales_per_second": seed.get("sales_per_second") if seed else None,
            "wall_seconds": round(seed_done - seed_started, 2) if seed_started and seed_done else None,
        },
        "cpu_seconds_at_end": {k: round(v, 1) for k, v in cpu.items()},
        "cpu_share_last_60s": shares,
    }


# -- reads ----------------------------------------------------------------------


def interleaved(
    targets: dict[str, tuple[str, str | None]], items: list[int], suffix: str, requests: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Keep-alive requests one at a time, one client per target, taking turns
    (same item for every target in a round, rotating who goes first): the
    targets see the same moment of a shared, noisy machine, so their ratio
    holds even when the load moves. ``targets``: name -> (base URL, the
    ``x-strangler-upstream`` expected, or None when not through the proxy).
    Every answer is checked."""
    rng = random.Random(42)
    names = list(targets)
    clients = {name: Http1Client(base, headers={"accept": "application/json"}) for name, (base, _) in targets.items()}
    latencies: dict[str, list[float]] = {name: [] for name in names}
    errors = dict.fromkeys(names, 0)
    wrong_side = dict.fromkeys(names, 0)
    statuses: dict[str, dict[str, int]] = {name: {} for name in names}
    try:
        for index in range(warmup + requests):
            path = f"/api/items/{rng.choice(items)}{suffix}"
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                try:
                    response: Answer | None = clients[name].get(path)
                    status = response.status if response is not None else -1
                except (OSError, EOFError, ValueError):
                    response, status = None, -1
                elapsed = (time.perf_counter() - started) * 1000
                if index < warmup:
                    continue
                latencies[name].append(elapsed)
                expected = targets[name][1]
                if status != 200:
                    errors[name] += 1
                    statuses[name][str(status)] = statuses[name].get(str(status), 0) + 1
                elif (
                    expected is not None
                    and response is not None
                    and response.headers.get("x-strangler-upstream") != expected
                ):
                    wrong_side[name] += 1
    finally:
        for client in clients.values():
            client.close()
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        out[name] = {"requests": len(latencies[name]), **stats(latencies[name]), "errors": errors[name]}
        if statuses[name]:
            out[name]["error_statuses"] = statuses[name]
        if targets[name][1] is not None:
            out[name]["answered_by_other_upstream"] = wrong_side[name]
    return out


def wrk_script(state: Path, items: list[int], suffix: str, name: str) -> Path:
    path = state / f"wrk-{name}.lua"
    path.write_text(
        "local ids = {" + ",".join(map(str, items)) + "}\n"
        "math.randomseed(42)\n"
        "request = function()\n"
        f'  return wrk.format("GET", "/api/items/" .. ids[math.random(#ids)] .. "{suffix}",'
        ' {["Accept"] = "application/json"})\n'
        "end\n"
    )
    return path


def wrk(base: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    run = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            base + "/",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    out = run.stdout
    if run.returncode != 0 or "Requests/sec" not in out:
        return {"error": (run.stderr or out)[-500:]}
    requests = re.search(r"(\d+) requests in", out)
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "connections": connections,
        "seconds": seconds,
        "requests": int(requests.group(1)) if requests else None,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": pct.get("50"),
        "p99_ms": pct.get("99"),
        "errors_non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
    }


class Admin:
    def __init__(self, proxy: str, token: str) -> None:
        self.proxy = proxy
        self.headers = {"authorization": f"Bearer {token}", "x-strangler-actor": "bench_pricing"}

    def set(self, route: str, mode: str, service: str | None) -> int:
        r = httpx.post(
            f"{self.proxy}/_strangler/routes/set",
            headers=self.headers,
            timeout=15,
            json={"route": route, "mode": mode, "service": service, "reason": "bench_pricing"},
        )
        if r.status_code != 200:
            raise SystemExit(f"could not set {route} to {mode}: {r.status_code} {r.text}")
        return int(r.json()["version"])

    def wait_live(self, version: int, timeout: float = 10) -> None:
        def live() -> bool:
            answer = get_json(f"{self.proxy}/_strangler/health")
            return bool(answer and isinstance(answer[1], dict) and int(answer[1].get("version") or 0) >= version)

        try:
            wait_until(live, timeout=timeout, what=f"the proxy serving route table v{version}")
        except NotReady as late:
            raise SystemExit(str(late)) from None


def pricing_breakdown(endpoints: dict[str, Any], token: str, items: list[int], requests: int) -> dict[str, Any]:
    """Where a direct pricing answer's time goes, measured from this process
    with pricing's own code and pool settings: the HTTP floor (``/healthz``:
    uvicorn + FastAPI, no database), ``SELECT 1`` on a connection of the
    same psycopg pool (the driver's round-trip floor), the read itself in
    process when it is not cached (pool + the one query + domain; no HTTP, no
    JSON) and the server's own planning + execution time of those queries
    (EXPLAIN ANALYZE). A cached answer skips the pool and the query."""
    import asyncio

    from new_services.pricing.bootstrap import bootstrap
    from new_services.pricing.service_layer import reads
    from new_services.pricing.settings import PricingSettings

    settings = PricingSettings.from_env(
        {"STRANGLER_PRICING_DATABASE_URL": endpoints["databases"]["pricing"], "STRANGLER_ADMIN_TOKEN": token}
    )
    captured: list[tuple[str, dict[str, Any], int]] = []
    original_run = reads.run

    async def spy(conn: Any, query: Any) -> Any:
        captured.append((query.sql(), dict(query.params), len(query.parts)))
        return await original_run(conn, query)

    async def measure() -> dict[str, Any]:
        service = bootstrap(settings)
        pool, clock, rng = service.read_pool, service.clock, random.Random(42)
        calls = {
            "rate": lambda conn, item: reads.rate_facts(conn, item_id=item, as_of=clock.now()),
            "history": lambda conn, item: reads.history_facts(
                conn, item_id=item, interval="1h", days=7, until=clock.now()
            ),
        }
        out: dict[str, Any] = {}
        await pool.open()
        try:
            floor: list[float] = []
            for index in range(requests + 50):
                began = time.perf_counter()
                async with pool.connection() as conn:
                    await conn.execute("SELECT 1")
                if index >= 50:
                    floor.append((time.perf_counter() - began) * 1000)
            out["select_1_via_pool"] = stats(floor)
            for name, call in calls.items():
                captured.clear()
                timings: list[float] = []
                for index in range(requests + 50):
                    item = rng.choice(items)
                    began = time.perf_counter()
                    async with pool.connection() as conn:
                        await call(conn, item)
                    if index >= 50:
                        timings.append((time.perf_counter() - began) * 1000)
                planning: list[float] = []
                execution: list[float] = []
                async with pool.connection() as conn:
                    for sql, params, _ in captured[-100:]:
                        cursor = await conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                        plan = (await cursor.fetchone())[0]
                        plan = json.loads(plan) if isinstance(plan, str) else plan
                        planning.append(plan[0]["Planning Time"])
                        execution.append(plan[0]["Execution Time"])
                parts = sorted(n for _, _, n in captured)
                out[name] = {
                    "uncached_read_in_process": stats(timings),
                    "server_planning_ms_p50": round(percentile(sorted(planning), 50), 3),
                    "server_execution_ms_p50": round(percentile(sorted(execution), 50), 3),
                    "server_execution_ms_p99": round(percentile(sorted(execution), 99), 3),
                    "union_parts_p50": parts[len(parts) // 2] if parts else None,
                }
        finally:
            await pool.close()
            await service.engine.dispose()
        return out

    reads.run = spy  # type: ignore[assignment]
    try:
        result = asyncio.run(measure())
    finally:
        reads.run = original_run  # type: ignore[assignment]
    health: list[float] = []
    with httpx.Client(base_url=endpoints["services"]["pricing"], timeout=10) as client:
        for index in range(requests + 50):
            began = time.perf_counter()
            client.get("/healthz").raise_for_status()
            if index >= 50:
                health.append((time.perf_counter() - began) * 1000)
    result["http_healthz_no_db"] = stats(health)
    return result


def measure_reads(stack: Stack, endpoints: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    proxy, legacy, pricing = endpoints["proxy"], endpoints["legacy"], endpoints["services"]["pricing"]
    with psycopg.connect(endpoints["databases"]["legacy"]) as conn:
        items = sorted(r[0] for r in conn.execute("SELECT DISTINCT itm_id FROM smp_sale") if 1 <= r[0] <= 200)
    say(f"{len(items)} sold items; reads through the proxy {proxy}")
    scripts = {name: wrk_script(stack.state, items, suffix, name) for name, (_, suffix) in ENDPOINTS.items()}
    # the admin API and the proxy's health have their own listener (proxy_admin)
    admin = Admin(endpoints.get("proxy_admin") or proxy, (stack.state / "admin-token").read_text().strip())
    c = f"c{args.connections}"
    reads: dict[str, Any] = {
        name: {
            "route": route,
            "path": f"/api/items/{{id}}{suffix}",
            "items": len(items),
            "direct_legacy": {},
            "direct_pricing": {},
        }
        for name, (route, suffix) in ENDPOINTS.items()
    }

    def load_test(name: str, label: str, base: str) -> dict[str, Any]:
        say(f"  {name} / {label}: wrk -c{args.connections} for {args.wrk_seconds}s")
        wrk(base, scripts[name], 4, 2)  # warm the pools
        return wrk(base, scripts[name], args.connections, args.wrk_seconds)

    say("phase 1: route in legacy mode (no route: everything goes to legacy)")
    for name, (_, suffix) in ENDPOINTS.items():
        say(f"  {name}: {args.requests} rounds of sequential requests: proxy (-> legacy), monolith, pricing")
        c1 = interleaved(
            {"proxy": (proxy, "legacy"), "direct_legacy": (legacy, None), "direct_pricing": (pricing, None)},
            items,
            suffix,
            args.requests,
            args.warmup,
        )
        reads[name]["legacy"] = {"c1": c1["proxy"], c: load_test(name, "legacy", proxy)}
        reads[name]["direct_legacy"]["c1"] = c1["direct_legacy"]
        reads[name]["direct_pricing"]["c1_during_phase_1"] = c1["direct_pricing"]
    for route, _ in ENDPOINTS.values():
        version = admin.set(route, "new", "pricing")
    admin.wait_live(version)
    say(f"phase 2: routes flipped to new (service pricing), table v{version}")
    for name, (_, suffix) in ENDPOINTS.items():
        say(f"  {name}: {args.requests} rounds of sequential requests: proxy (-> pricing), pricing")
        c1 = interleaved(
            {"proxy": (proxy, "pricing"), "direct_pricing": (pricing, None)}, items, suffix, args.requests, args.warmup
        )
        reads[name]["new"] = {"c1": c1["proxy"], c: load_test(name, "new", proxy)}
        reads[name]["direct_pricing"]["c1"] = c1["direct_pricing"]
        reads[name]["direct_pricing"][c] = load_test(name, "direct pricing", pricing)
    say(f"breakdown of a pricing answer, in process: {args.requests} reads of each kind")
    breakdown = pricing_breakdown(endpoints, admin.headers["authorization"].split()[1], items, args.requests)

    for name in ENDPOINTS:
        r = reads[name]
        old, new = r["legacy"], r["new"]
        ratio = old["c1"]["p50_ms"] / new["c1"]["p50_ms"] if new["c1"]["p50_ms"] else None
        r["p50_ratio_legacy_over_new"] = round(ratio, 2) if ratio else None
        r["p99_ratio_legacy_over_new"] = round(old["c1"]["p99_ms"] / new["c1"]["p99_ms"], 2)
        old_rps, new_rps = old[c].get("rps"), new[c].get("rps")
        r["rps_ratio_new_over_legacy"] = round(new_rps / old_rps, 2) if old_rps and new_rps else None
        r["floor_p50_10x_met"] = bool(ratio and ratio >= 10)
        same_time = r["direct_legacy"]["c1"]["p50_ms"] / r["direct_pricing"]["c1_during_phase_1"]["p50_ms"]
        r["p50_ratio_direct_legacy_over_direct_pricing_same_time"] = round(same_time, 2)
        r["proxy_added_p50_ms"] = {
            "legacy": round(old["c1"]["p50_ms"] - r["direct_legacy"]["c1"]["p50_ms"], 3),
            "new": round(new["c1"]["p50_ms"] - r["direct_pricing"]["c1"]["p50_ms"], 3),
        }
        r["pricing_breakdown"] = {
            "direct_http_p50_ms": r["direct_pricing"]["c1"]["p50_ms"],
            "http_healthz_no_db_p50_ms": breakdown["http_healthz_no_db"]["p50_ms"],
            "uncached_read_in_process_p50_ms": breakdown[name]["uncached_read_in_process"]["p50_ms"],
            "select_1_via_pool_p50_ms": breakdown["select_1_via_pool"]["p50_ms"],
            "server_planning_p50_ms": breakdown[name]["server_planning_ms_p50"],
            "server_execution_p50_ms": breakdown[name]["server_execution_ms_p50"],
            "server_execution_p99_ms": breakdown[name]["server_execution_ms_p99"],
            "union_parts_p50": breakdown[name]["union_parts_p50"],
        }
        r["errors_total"] = sum(
            v.get("errors", 0)
            + v.get("answered_by_other_upstream", 0)
            + v.get("errors_non2xx", 0)
            + v.get("socket_errors", 0)
            for part in (r["legacy"], r["new"], r["direct_legacy"], r["direct_pricing"])
            for v in part.values()
        )
    return reads


# -- lag ------------------------------------------------------------------------


class Visibility(threading.Thread):
    """Polls pricing's ``sales`` table for the ids the writers committed:
    every ``interval``, one index range scan above the oldest id not yet seen."""

    def __init__(self, dsn: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.dsn, self.interval = dsn, interval
        self.visible: dict[int, float] = {}
        self.pending: set[int] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.polls = 0
        self.floor = 0

    def committed(self, sale_id: int) -> None:
        with self.lock:
            if sale_id not in self.visible:
                self.pending.add(sale_id)

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                with self.lock:
                    floor = min(self.pending) - 1 if self.pending else self.floor
                rows = conn.execute("SELECT sale_id FROM sales WHERE sale_id > %s", (floor,), prepare=True).fetchall()
                now = time.time()
                self.polls += 1
                with self.lock:
                    for (sale_id,) in rows:
                        if sale_id not in self.visible:
                            self.visible[sale_id] = now
                            self.pending.discard(sale_id)
                            self.floor = max(self.floor, sale_id)
                time.sleep(self.interval)


class StageReader(threading.Thread):
    """The producers' CreateTimes of each new sale on ``legacy.public.smp_sale``
    (the relay's produce) and ``smp.market.v1`` (the ACL's produce), read
    lazily (big, rare fetches: on Tansu every fetch costs the broker far more
    than the records in it; the CreateTimes do not depend on when they are
    read). Splits the lag into capture, translate and project."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import OFFSET_END, Consumer, TopicPartition

        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-pricing-stages",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 500,
                "fetch.min.bytes": 1_000_000,
            }
        )
        partitions = []
        for topic in ("smp.market.v1", "legacy.public.smp_sale"):
            meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
            partitions += [TopicPartition(topic, p, OFFSET_END) for p in meta.partitions]
        self.consumer.assign(partitions)
        self.domain: dict[int, float] = {}
        self.legacy: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for message in self.consumer.consume(10_000, 0.5):
                if message.error() is not None or message.value() is None:
                    continue
                key, created = message.key() or b"", message.timestamp()[1] / 1000
                if message.topic() == "smp.market.v1":
                    if key.startswith(b"sales/"):
                        self.domain.setdefault(int(key[6:]), created)
                else:
                    self.legacy.setdefault(json.loads(key)["id"], created)
        self.consumer.close()


def measure_lag(endpoints: dict[str, Any], args: argparse.Namespace, load: LoadSampler) -> dict[str, Any]:
    rate, seconds, writers = args.lag_rate, args.lag_seconds, args.writers
    legacy_dsn, pricing_dsn = endpoints["databases"]["legacy"], endpoints["databases"]["pricing"]
    with psycopg.connect(legacy_dsn) as conn:
        listings = conn.execute("SELECT id, sllr_id, itm_id, prc_cp FROM smp_lst ORDER BY id DESC LIMIT 500").fetchall()
        players = [r[0] for r in conn.execute("SELECT id FROM smp_plyr ORDER BY id LIMIT 1000")]
        base = int(conn.execute("SELECT coalesce(max(id), 0) FROM smp_sale").fetchone()[0])
    watcher = Visibility(pricing_dsn, args.poll_ms / 1000)
    watcher.floor = base
    watcher.start()
    insert = (
        "INSERT INTO smp_sale (lst_id, byr_id, sllr_id, itm_id, qty, prc_cp, tot_cp, fee_cp, sld_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, localtimestamp) RETURNING id"
    )
    total = int(rate * seconds)
    committed: dict[int, float] = {}
    commit_ms: list[float] = []
    written = [0]
    last_commit = [0.0]
    failures: list[str] = []
    start = time.monotonic() + 0.5

    def writer(k: int) -> None:
        """Sales k, k + writers, ...: each due at start + n / rate, each its own transaction."""
        rng = random.Random(k)
        try:
            with psycopg.connect(legacy_dsn, autocommit=True) as conn:
                conn.execute("SET TIME ZONE 'Europe/Paris'")  # localtimestamp = the market's wall clock
                for n in range(k, total, writers):
                    pause = start + n / rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    listing, seller, item, price = rng.choice(listings)
                    buyer = rng.choice(players)
                    if buyer == seller:
                        buyer = players[(players.index(buyer) + 1) % len(players)]
                    qty = rng.randint(1, 5)
                    total_cp = qty * price
                    began = time.perf_counter()
                    row = conn.execute(
                        insert, (listing, buyer, seller, item, qty, price, total_cp, total_cp * 5 // 100), prepare=True
                    ).fetchone()
                    committed[row[0]] = time.time()  # autocommit: COMMIT has returned
                    commit_ms.append((time.perf_counter() - began) * 1000)
                    watcher.committed(row[0])
                    written[0] += 1
                    last_commit[0] = max(last_commit[0], time.monotonic())
        except Exception as exc:
            failures.append(f"writer {k}: {exc}")

    say(
        f"lag: {rate} sales/s for {seconds:.0f}s into smp_sale from {writers} connections; "
        f"polling pricing's sales every {args.poll_ms:g} ms"
    )
    stages = StageReader(endpoints["kafka"]) if args.lag_stages else None
    if stages is not None:
        stages.start()
        time.sleep(2)  # assigned at the end of both topics before the first write
    pids = {k: v for k, v in endpoints.get("processes", {}).items() if k in PIPELINE}
    cpu_before, cpu_began = {k: cpu_seconds(v) for k, v in pids.items()}, time.monotonic()
    threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(5)
            load.sample()
            say(
                f"  {written[0]}/{total} writes, {len(watcher.visible)} visible in pricing, load {load.samples[-1]:.2f}"
            )
    achieved = written[0] / max(last_commit[0] - start, 1e-9)
    cpu_share = {
        k: round(((cpu_seconds(v) or 0) - (cpu_before[k] or 0)) / (time.monotonic() - cpu_began), 2)
        for k, v in pids.items()
    }
    with contextlib.suppress(NotReady):  # what is still pending then is reported as not visible
        wait_until(lambda: not watcher.pending, timeout=60, what="every sale visible in pricing")
    watcher.stop.set()
    watcher.join(5)
    split: dict[str, Any] | None = None
    if stages is not None:
        time.sleep(2)
        stages.stop.set()
        stages.join(5)
        hops: dict[str, list[float]] = {"capture": [], "translate": [], "project": []}
        for i, t in committed.items():
            if i in stages.legacy and i in stages.domain and i in watcher.visible:
                hops["capture"].append((stages.legacy[i] - t) * 1000)
                hops["translate"].append((stages.domain[i] - stages.legacy[i]) * 1000)
                hops["project"].append((watcher.visible[i] - stages.domain[i]) * 1000)
        split = {
            "sales_traced": len(hops["capture"]),
            **{
                name: {"p50": round(percentile(sorted(v), 50), 1), "p99": round(percentile(sorted(v), 99), 1)}
                for name, v in hops.items()
            },
        }
    ids = sorted(committed)
    lags = sorted((watcher.visible[i] - committed[i]) * 1000 for i in ids if i in watcher.visible)
    per_window = []
    for first in range(0, len(ids), rate * 10):
        chunk = sorted(
            (watcher.visible[i] - committed[i]) * 1000 for i in ids[first : first + rate * 10] if i in watcher.visible
        )
        per_window.append(round(percentile(chunk, 99), 1) if chunk else None)
    return {
        "path": "smp_sale INSERT commit -> Debezium relay -> ACL -> SaleRecorded -> pricing projector -> sales row",
        "target_writes_per_second": rate,
        "achieved_writes_per_second": round(achieved, 1),
        "writer_connections": writers,
        "seconds": seconds,
        "writes": len(committed),
        "visible": len(lags),
        "missing": len(committed) - len(lags),
        "writer_failures": failures,
        "insert_commit_ms": {k.replace("_ms", ""): v for k, v in stats(commit_ms).items()},
        "poll_interval_ms": args.poll_ms,
        "polls": watcher.polls,
        "lag_ms": {
            "p50": round(percentile(lags, 50), 1),
            "p90": round(percentile(lags, 90), 1),
            "p99": round(percentile(lags, 99), 1),
            "max": round(lags[-1], 1) if lags else None,
            "min": round(lags[0], 1) if lags else None,
        },
        "p99_ms_per_10s_window": per_window,
        "stages_ms": split if split is not None else "not measured (--lag-stages)",
        "cpu_share_while_writing": cpu_share,
    }


# -- main -----------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    first_try = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True, check=False)
    if first_try.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sales", type=int, default=1_000_000, help="sales seeded by strangler up")
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per endpoint and side")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--lag-rate", type=int, default=500, help="sales written per second")
    parser.add_argument("--lag-seconds", type=float, default=30)
    parser.add_argument(
        "--writers", type=int, default=8, help="connections writing the paced sales (one commit per sale on each)"
    )
    parser.add_argument("--poll-ms", type=float, default=5)
    parser.add_argument(
        "--no-lag-stages",
        dest="lag_stages",
        action="store_false",
        help="do not read the producers' CreateTimes off the topics to split the lag",
    )
    parser.add_argument("--build-timeout", type=float, default=None, help="default: 900 s + 2.5 ms per sale")
    parser.add_argument("--stall-seconds", type=float, default=300)
    parser.add_argument(
        "--stall-rate",
        type=float,
        default=100,
        help="give the build up if it gains fewer events/s than this over --stall-seconds",
    )
    parser.add_argument("--keep-state", action="store_true", help="keep the temporary state dir (logs)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    ensure_wrk()
    state = Path(tempfile.mkdtemp(prefix="bench-pricing-"))
    load = LoadSampler()
    stack = None
    failed = True
    try:
        say(f"strangler up --seed-sales {args.sales} --state-dir {state}")
        stack = Stack(state, args.sales)
        build = measure_build(stack, args.sales, args)
        load.sample()
        if build["completed"]:
            say(f"read model built in {build['seconds']}s ({build['sales_per_second']} sales/s)")
        else:
            say(
                f"read model NOT built ({build['gave_up']}): {build['sales_in_read_model']} of {args.sales} sales in "
                "it; measuring the reads anyway, on the partial read model"
            )
        endpoints = stack.endpoints()
        assert endpoints is not None
        reads = measure_reads(stack, endpoints, args)
        load.sample()
        behind = build["projector_lag_events"] or 0
        if build["completed"] or behind < args.lag_rate * 10:
            lag = measure_lag(endpoints, args, load)
        else:
            lag = {
                "skipped": f"the projector is {behind} events behind the stream (build not completed): a new "
                "sale would queue behind them, so commit-to-visible lag here is the backlog's drain "
                "time, not the pipeline's latency"
            }
        stack.check_alive()
        result = {
            "bench": "pricing",
            "sales": args.sales,
            "build": build,
            "reads": reads
            if build["completed"]
            else {
                "read_model_complete": False,
                "warning": f"pricing held {build['sales_in_read_model']} of {args.sales} sales when these were "
                "measured (its queries are index range scans bounded per item and window, but the "
                "answers are over less data than legacy's)",
                **reads,
            },
            "lag": lag,
            "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), **load.report()},
            "notes": [
                "build is measured from pricing's first /healthz answer (its projector starts just before) to "
                "/readyz ready with events_applied >= sales and all N sales in its sales table; it includes "
                "waiting for the CDC snapshot and the ACL, which run concurrently with the projector; seeding "
                "happens before and is reported apart",
                "c1 = sequential keep-alive requests (bench/_http1_client.py, ~30 us of client per request) after a warm-up, random sold items (seed 42); "
                f"c{args.connections} = wrk -t1 with a Lua script picking a random item per request "
                "(errors = non-2xx/3xx + socket errors)",
                "every c1 answer is checked for status 200 and for the x-strangler-upstream header naming "
                "the expected side (legacy before the flip, pricing after)",
                "c1 targets are timed in turns (same item each round): phase 1 = proxy->legacy, monolith direct, "
                "pricing direct; phase 2 (after the flip) = proxy->pricing, pricing direct. "
                "p50_ratio_direct_legacy_over_direct_pricing_same_time compares the two backends measured in the "
                "same rounds (robust to the machine's load moving between phases); proxy_added_p50_ms = proxy "
                "minus direct in the same rounds",
                "lag stages from the producers' CreateTimes (ms resolution, same machine clock): capture = "
                "commit -> relay produced to legacy.public.smp_sale; translate = -> ACL produced SaleRecorded on "
                "smp.market.v1; project = -> row visible in pricing's sales table (projector fetch + batch + "
                "commit + 5 ms polling); cpu_share = CPU seconds per second (1.0 = one core)",
                "pricing_breakdown: direct HTTP p50 (answers come from pricing's in-process cache once read) vs "
                "/healthz (HTTP floor, no DB), the uncached read in this process through pricing's own pool and "
                "code (no HTTP: what a cache miss costs), SELECT 1 on that pool (driver floor) and PostgreSQL's "
                "own planning/execution time (EXPLAIN ANALYZE of the captured queries)",
                "lag = first poll of pricing's sales table that returns the row minus the time its INSERT's "
                "COMMIT returned; the projector's transaction also announces the item on the change feed "
                "(NOTIFY, delivered at commit), which drops the API's cached answer, so visibility in the table "
                "is visibility in GET /api/items/{id}/rate/ plus the notification's delivery",
                "everything runs on one machine (stack, load generator, wrk): figures measured together, "
                "ratios are what count",
            ],
        }
        print(json.dumps(result, indent=2))
        failed = False
    finally:
        if stack is not None:
            stack.stop()
        if failed and not args.keep_state:
            logs = Path(tempfile.mkdtemp(prefix="bench-pricing-logs-"))
            if (state / "logs").is_dir():
                shutil.copytree(state / "logs", logs / "logs", dirs_exist_ok=True)
            if (state / "up.log").exists():
                shutil.copy(state / "up.log", logs)
            say(f"failed: the stack's logs are kept in {logs}")
        if args.keep_state:
            say(f"state kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
