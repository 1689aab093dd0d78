"""``strangler demo``: the migration story on the local stack, told as it runs.

The story: start (or attach to) a stack with a seeded market, send steady
traffic through the proxy (reads of rates, histories and listings, a few
buys with a registered player's legacy token), move pricing's endpoints
through the plan's stages (shadow, canaries, new) with the plan engine's
gated ``advance`` - the same call as ``strangler plan advance`` -, then flip
the market's write routes to the market service and show a buy landing in
both stores; finish with the audit history and what to try next.

Every wait has a deadline. A gate that is still failing after
``--gate-wait`` seconds is passed with ``force`` and a reason that says so
(recorded as FORCED in the audit log, exactly as a person would with
``strangler plan advance --force --reason ...``): the demo's traffic is light
and the plan's thresholds are sized for production.

Ctrl-C at any point stops the traffic, says where the story stopped, leaves
every route at the plan stage it had reached (each step is one atomic,
audited route version; ``strangler plan rollback`` steps back) and stops the
stack if the demo started it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.table import Table
from rich.text import Text

from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import cells, console, examples, fail, say
from strangler_cli.routes import admin_token
from strangler_cli.state import StateOpt, endpoints_or_none

DEMO_EXAMPLES = examples(
    "strangler demo",
    "strangler demo --seed-sales 100000 --pace 30",
    "strangler demo --use-running --state-dir /tmp/stack",
)

PRICING_ENDPOINTS = ("pricing.rate", "pricing.history")
#: Pricing's reads stop at ``new`` (legacy still the fallback); ``retired`` is a later, deliberate step.
PRICING_GOAL = "new"
MARKET_WRITES = "market.buy"  # any of the market's write routes: they move together
STACK_READY_S = 900.0  # seeding 200k sales on a loaded 2-core machine has taken minutes
BUY_EVERY_S = 3.0
READERS = 4


class DemoStopped(Exception):
    """A wait ran out of time in a way the story cannot go around."""


def _actor() -> str:
    return f"demo:{getpass.getuser()}@{socket.gethostname()}"


def _heading(text: str) -> None:
    console.print()
    console.print(Text(f"== {text}", style="bold cyan"), highlight=False)


def _pause(seconds: float) -> None:
    """Dwell on a stage (interruptible by Ctrl-C, as any sleep)."""
    if seconds > 0:
        time.sleep(seconds)


# -- the stack ------------------------------------------------------------------------------------


@dataclass
class Stack:
    state_dir: Path
    endpoints: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None  # set when the demo started it

    @property
    def proxy(self) -> str:
        return str(self.endpoints["proxy"]).rstrip("/")


def start_stack(state_dir: Path, seed_sales: int) -> Stack:
    """``strangler up`` as a child in its own session (so the terminal's
    Ctrl-C reaches the demo only, and the demo stops the stack in order)."""
    log = state_dir / "logs" / "demo-up.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"starting the stack: strangler up --state-dir {state_dir} --seed-sales {seed_sales} (output in {log})")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "strangler_cli",
                "up",
                "--state-dir",
                str(state_dir),
                "--seed-sales",
                str(seed_sales),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = Stack(state_dir, {}, process)
    deadline = time.monotonic() + STACK_READY_S
    shown = time.monotonic()
    while True:
        if process.poll() is not None:
            raise DemoStopped(f"strangler up exited {process.returncode}; see {log}")
        endpoints = endpoints_or_none(state_dir)
        if endpoints is not None:
            stack.endpoints = endpoints
            return stack
        if time.monotonic() > deadline:
            stop_stack(stack)
            raise DemoStopped(f"the stack was not ready within {STACK_READY_S:.0f} s; see {log}")
        if time.monotonic() - shown > 15:
            shown = time.monotonic()
            say("  ... still starting (PostgreSQL, broker, Debezium, the monolith with its seeded sales, services)")
        time.sleep(0.5)


def stop_stack(stack: Stack) -> None:
    """Stop the stack the demo started, as Ctrl-C stops ``strangler up``."""
    process = stack.process
    if process is None or process.poll() is not None:
        return
    say("stopping the stack the demo started ...")
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    say(f"stack stopped (strangler up exited {process.returncode})")


# -- steady traffic ---------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Background threads sending steady traffic through the proxy; counts
    what answered (the proxy's ``x-strangler-upstream`` header) per kind."""

    proxy: str
    items: list[int]
    stop: threading.Event = field(default_factory=threading.Event)
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)
    buyer_token: str | None = None
    last_sale: dict[str, Any] | None = None
    reported: bool = False

    def start(self, readers: int = READERS) -> None:
        for n in range(readers):
            self.threads.append(threading.Thread(target=self._read, name=f"demo-reader-{n}", daemon=True))
        if self.buyer_token:
            self.threads.append(threading.Thread(target=self._buy, name="demo-buyer", daemon=True))
        for t in self.threads:
            t.start()

    def halt(self, timeout: float = 15.0) -> bool:
        """Stop every thread; True when all ended within ``timeout``."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def _count(self, kind: str, response: httpx.Response | None) -> None:
        with self.lock:
            self.counts["requests"] += 1
            self.counts[kind] += 1
            if response is None or response.status_code >= 500:
                self.counts["errors"] += 1
            if response is not None:
                self.counts["upstream:" + response.headers.get("x-strangler-upstream", "?")] += 1

    def _read(self) -> None:
        rng = random.Random()
        with httpx.Client(base_url=self.proxy, timeout=10) as client:
            while not self.stop.is_set():
                kind = rng.choice(("rate", "history", "rate", "history", "listings"))
                item = rng.choice(self.items)
                path = {
                    "rate": f"/api/items/{item}/rate/",
                    "history": f"/api/items/{item}/history/",
                    "listings": f"/api/listings/?item={item}&limit=10",
                }[kind]
                response: httpx.Response | None
                # Each read comes as a new anonymous visitor: a canary is sticky per visitor
                # (the proxy's strangler_uid cookie), so one thread keeping its cookie would be one user.
                client.cookies.clear()
                try:
                    response = client.get(path)
                except httpx.HTTPError:
                    response = None
                self._count(kind, response)
                self.stop.wait(0.01)

    def _buy(self) -> None:
        headers = {"authorization": f"Token {self.buyer_token}"}
        with httpx.Client(base_url=self.proxy, timeout=15, headers=headers) as client:
            while not self.stop.wait(BUY_EVERY_S):
                response: httpx.Response | None = None
                with contextlib.suppress(httpx.HTTPError):
                    listing = cheapest_listing(client)
                    if listing is not None:
                        response = client.post("/api/sales/", json={"listing": listing, "quantity": 1})
                self._count("buy", response)
                if response is not None and response.status_code == 201:
                    with self.lock:
                        self.counts["buys_ok"] += 1
                        self.last_sale = response.json() | {"upstream": response.headers.get("x-strangler-upstream")}

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.counts)

    def summary(self, since: Counter[str], seconds: float) -> str:
        """One line: what was sent since ``since`` and who answered it."""
        now = self.snapshot()
        d = now - since
        total = d["requests"]
        ups = {k.split(":", 1)[1]: v for k, v in d.items() if k.startswith("upstream:")}
        answered = ", ".join(f"{name} {v / total:.0%}" for name, v in sorted(ups.items(), key=lambda kv: -kv[1]))
        return (
            f"traffic: {total} requests in {seconds:.0f} s ({total / max(seconds, 0.001):.0f}/s: "
            f"rate {d['rate']}, history {d['history']}, listings {d['listings']}, buys {d['buy']} "
            f"({d['buys_ok']} ok)); answered by {answered or '-'}; errors {d['errors']}"
        )


def items_of(proxy: str) -> list[int]:
    """Item ids from the catalog (through the proxy), for the readers."""
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
        data = httpx.get(f"{proxy}/api/items/", timeout=10).json()
        rows = data["results"] if isinstance(data, dict) else data
        ids = [int(r["id"]) for r in rows][:50]
        if ids:
            return ids
    return list(range(1, 21))


def cheapest_listing(client: httpx.Client, not_seller: int | None = None) -> int | None:
    """An open listing a starting wallet (100 gold) can buy one unit of."""
    data = client.get("/api/listings/", params={"status": "O", "limit": 50}).json()
    rows = data["results"] if isinstance(data, dict) else data
    ok = [
        r
        for r in rows
        if r["quantity_remaining"] >= 1 and r["seller_id"] != not_seller and _copper(r["unit_price"]) <= 500_000
    ]
    return int(min(ok, key=lambda r: _copper(r["unit_price"]))["id"]) if ok else None


def _copper(money: Any) -> int:
    return int(money["copper"]) if isinstance(money, dict) else int(money)


def register_buyer(proxy: str) -> dict[str, Any]:
    """A player registered through the proxy (served by the monolith): it
    gets a legacy token and the starting wallet."""
    response = httpx.post(
        f"{proxy}/api/players/",
        json={"name": f"demobuyer{os.urandom(3).hex()}", "email": "", "password": "demo-password-1"},
        timeout=15,
    )
    if response.status_code != 201:
        raise DemoStopped(f"registering a player through the proxy: {response.status_code} {response.text[:300]}")
    return dict(response.json())


# -- the plan ---------------------------------------------------------------------------------------


@dataclass
class Story:
    stack: Stack
    plan: Any
    access: Any
    traffic: Traffic
    pace: float
    gate_wait: float
    actor: str = field(default_factory=_actor)
    where: str = "starting"
    forced: list[str] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        from migration_plan.engine import ParityCache, plan_status

        if not hasattr(self, "_parity_cache"):
            self._parity_cache = ParityCache(10.0)
        return plan_status(self.plan, self.access, actor=self.actor, parity_cache=self._parity_cache)

    def endpoint(self, data: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
        return next(e for c in data["contexts"] for e in c["endpoints"] if e["id"] == endpoint_id)

    def show_status(
        self, data: dict[str, Any] | None = None, contexts: tuple[str, ...] = ("pricing", "market")
    ) -> None:
        """The part of ``strangler plan status`` the story is about."""
        data = data or self.status()
        table = Table(title=f"strangler plan status (route table v{data['route_version']})")
        for col in ("endpoint", "stage", "next", "gates of this stage (figure / threshold)"):
            table.add_column(col, overflow="fold")
        for context in data["contexts"]:
            if context["name"] not in contexts:
                continue
            for e in context["endpoints"]:
                table.add_row(*cells(e["id"], e["stage"], e["next_stage"] or "-", _gates_text(e)))
        console.print(table)
        traffic = data["progress"]["traffic"]
        share = "-" if traffic["share_new"] is None else f"{traffic['share_new']:.1%}"
        say(
            f"migrated {data['progress']['migrated']} of {data['progress']['planned']} planned endpoints; "
            f"new services answered {share} of {traffic['requests']} requests since "
            f"{traffic['since'] or 'the proxy started'}"
        )

    def wait_gates(self, endpoint_ids: list[str]) -> dict[str, str]:
        """Wait (at most ``gate_wait``) until every gate of the endpoints'
        current stage passes; the endpoints whose gates still fail, with them."""
        deadline = time.monotonic() + self.gate_wait
        last_shown = time.monotonic()
        while True:
            data = self.status()
            pending = {
                i: _gates_text(self.endpoint(data, i), only_failed=True).plain
                for i in endpoint_ids
                if self.endpoint(data, i)["gates_passed"] is False
            }
            if not pending or time.monotonic() >= deadline:
                if pending:
                    say(f"gates still failing after {self.gate_wait:.0f} s:", style="yellow")
                    for i, failing in pending.items():
                        say(f"  {i}: {failing}", style="yellow")
                return pending
            if time.monotonic() - last_shown >= 10:
                last_shown = time.monotonic()
                for i in pending:
                    console.print(
                        Text(f"  waiting for gates of {i}: ") + _gates_text(self.endpoint(data, i), only_failed=True),
                        highlight=False,
                    )
            time.sleep(2.0)

    def advance(self, endpoint_id: str, reason: str, failing: str | None) -> dict[str, Any]:
        """One gated step. ``failing``: the gates still failing when the wait
        ran out; the step is then forced, with a reason that says so (the
        engine records which gates failed at the step)."""
        from migration_plan.engine import PlanRefused, advance

        if failing is None:
            try:
                step = advance(self.plan, self.access, endpoint_id, reason=reason, actor=self.actor)
            except PlanRefused as exc:
                if not exc.results:
                    raise
                # A gate turned red between the wait and the step (parity under live writes): once more.
                failing = ", ".join(
                    f"{r.gate} {_fmt(r.figure)}/{_fmt(r.threshold)}" for r in exc.results if not r.passed
                )
        if failing is not None:
            forced_reason = (
                f"{reason}; demo: gates not met within {self.gate_wait:.0f} s ({failing}); "
                "the demo's light traffic cannot reach production thresholds"
            )
            step = advance(self.plan, self.access, endpoint_id, reason=forced_reason, actor=self.actor, force=True)
            if step["forced"]:
                self.forced.append(f"{endpoint_id} {step['from_stage']} -> {step['to_stage']}")
        forced = Text(" FORCED (recorded in the audit log)", style="red") if step["forced"] else Text("")
        console.print(
            Text(f"-> {', '.join(step['moved'])}: {step['from_stage']} -> {step['to_stage']} ", style="green")
            + Text(f"(route table v{step['previous']} -> v{step['version']})")
            + forced,
            highlight=False,
        )
        return step


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _gates_text(e: dict[str, Any], only_failed: bool = False) -> Text:
    if not e["gates"]:
        return Text("no gates to leave legacy" if e["stage"] == "legacy" and e["stages"] else "-")
    out = Text()
    for g in e["gates"]:
        if only_failed and g["passed"]:
            continue
        if out:
            out.append(", ")
        out.append(f"{g['gate']} {_fmt(g['figure'])}/{_fmt(g['threshold'])}", style="green" if g["passed"] else "red")
    return out


# -- the story --------------------------------------------------------------------------------------


def introduce(story: Story) -> None:
    e = story.stack.endpoints
    _heading("1. the stack: where to look")
    say(f"proxy (every request goes through it):  {e['proxy']}")
    say(f"the monolith behind it (Django):         {e.get('legacy', '-')}")
    for name, url in sorted((e.get("services") or {}).items()):
        say(f"new service {name + ':':<28}{url}")
    if e.get("dashboard"):
        say(f"dashboard (live plan board; log in with the token in {story.stack.state_dir / 'admin-token'}):")
        say(f"    {e['dashboard']}", style="bold")
    else:
        say("dashboard: not part of this stack yet; follow along with `strangler plan status` instead")
    say(f"in another terminal:  strangler plan status --state-dir {story.stack.state_dir}")
    say(f"                      strangler routes history --state-dir {story.stack.state_dir}")
    story.show_status()


def reset_or_note(story: Story, reset: bool) -> None:
    """The story starts from legacy. Routes kept from an earlier run (the
    route table lives in the stack's database) are stepped back with
    ``--reset`` (each step an audited ``plan rollback``); otherwise the
    story continues from where they are, and says so."""
    from migration_plan.engine import PlanRefused, rollback

    data = story.status()
    moved = [
        e for e in (story.endpoint(data, i) for i in (*PRICING_ENDPOINTS, MARKET_WRITES)) if e["stage"] != "legacy"
    ]
    if not moved:
        return
    if not reset:
        say(
            "already moved (an earlier run?): "
            + ", ".join(f"{e['id']} at {e['stage']}" for e in moved)
            + "; the story continues from there (`strangler demo --reset` starts it from legacy)",
            style="yellow",
        )
        return
    say("--reset: stepping the story's endpoints back to legacy, one audited rollback at a time")
    for endpoint_id in (*PRICING_ENDPOINTS, MARKET_WRITES):
        for _ in range(len(story.plan.endpoint(endpoint_id).stages) + 1):
            try:
                step = rollback(story.plan, story.access, endpoint_id, reason="demo --reset", actor=story.actor)
            except PlanRefused:  # at legacy
                break
            say(f"  <- {', '.join(step['moved'])}: {step['from_stage']} -> {step['to_stage']}")


def start_traffic(story: Story) -> None:
    _heading("2. steady traffic through the proxy")
    buyer = register_buyer(story.stack.proxy)
    story.traffic.buyer_token = str(buyer["token"])
    say(
        f"registered player {buyer['name']} (id {buyer['id']}) through the proxy: the monolith gave it a legacy "
        "token and 100 gold; it buys one unit every few seconds"
    )
    say(f"{READERS} reader threads GET item rates, item histories and listings through the proxy")
    before = story.traffic.snapshot()
    story.traffic.start()
    _pause(story.pace)
    say(story.traffic.summary(before, story.pace))


def migrate_pricing(story: Story) -> None:
    from migration_plan.engine import PlanRefused

    _heading("3. pricing: shadow -> canary -> new, one gated step at a time")
    say("each step is `strangler plan advance`: it moves only when every gate of the current stage passes")
    say(
        f"the plan's gates are sized for production traffic; the demo waits up to {story.gate_wait:.0f} s for them "
        "and otherwise steps with --force and a recorded reason, as a person would (shown as FORCED)"
    )
    data = story.status()
    for endpoint_id in PRICING_ENDPOINTS:
        if story.endpoint(data, endpoint_id)["stage_index"] is None:
            from migration_plan.engine import rollback

            say(f"{endpoint_id} is on a route set by hand: back to legacy first, so the plan can drive it")
            rollback(story.plan, story.access, endpoint_id, reason="demo: start from the plan", actor=story.actor)
    data = story.status()
    while True:
        todo = [
            i
            for i in PRICING_ENDPOINTS
            if story.endpoint(data, i)["stage"] != PRICING_GOAL and story.endpoint(data, i)["next_stage"] is not None
        ]
        if not todo:
            break
        stages = {story.endpoint(data, i)["stage"] for i in todo}
        story.where = f"pricing at {'/'.join(sorted(stages))}"
        pending = story.wait_gates(todo) if stages != {"legacy"} else {}
        for i in todo:
            stage = story.endpoint(data, i)["stage"]
            reason = "demo: start comparing" if stage == "legacy" else f"demo: {stage} gates checked"
            try:
                stage = story.advance(i, reason, pending.get(i))["to_stage"]
            except PlanRefused as exc:
                raise DemoStopped(str(exc)) from None
        story.where = f"pricing at {stage}"
        say(_stage_note(stage))
        before = story.traffic.snapshot()
        _pause(story.pace)
        say(story.traffic.summary(before, story.pace))
        data = story.status()
        story.show_status(data, ("pricing",))


def _stage_note(stage: str) -> str:
    if stage == "shadow":
        return (
            "shadow: the monolith still answers; the proxy also calls pricing and compares the answers "
            "(strangler routes diffs shows any difference)"
        )
    if stage.startswith("canary"):
        return f"{stage}: a sticky share of users is answered by pricing, the rest by the monolith"
    if stage == "new":
        return "new: pricing answers every request; a failed read falls back to the monolith"
    return stage


def migrate_market(story: Story) -> None:
    from migration_plan.engine import PlanRefused, advance

    _heading("4. market: its write routes flip to the market service, together")
    say(
        "writes have one writer at a time: list, cancel and buy move in one route version; the market "
        "service then owns them and syncs every change back to the monolith's tables"
    )
    data = story.status()
    writes = story.endpoint(data, MARKET_WRITES)
    story.where = "market writes at legacy"
    if writes["stage"] == "legacy":
        try:
            step = advance(
                story.plan, story.access, MARKET_WRITES, reason="demo: market owns its writes", actor=story.actor
            )
        except PlanRefused as exc:
            raise DemoStopped(str(exc)) from None
        say(
            f"-> {', '.join(step['moved'])}: legacy -> {step['to_stage']} "
            f"(route table v{step['previous']} -> v{step['version']})",
            style="green",
        )
    else:
        say(f"the market's writes are already at {writes['stage']}")
    story.where = "market writes at new"
    show_buy(story)
    before = story.traffic.snapshot()
    _pause(story.pace)
    say(story.traffic.summary(before, story.pace))
    story.show_status(story.status(), ("market",))


def show_buy(story: Story) -> None:
    """One buy through the proxy, answered by the market service, then found
    in the market's store and (synced back) in the monolith's table."""
    import psycopg

    token = story.traffic.buyer_token
    deadline = time.monotonic() + 60
    response: httpx.Response | None = None
    with httpx.Client(base_url=story.stack.proxy, timeout=30, headers={"authorization": f"Token {token}"}) as client:
        while time.monotonic() < deadline:
            listing = cheapest_listing(client)
            if listing is None:
                raise DemoStopped("no open listing the demo buyer can afford")
            response = client.post("/api/sales/", json={"listing": listing, "quantity": 1})
            # 503 right after the flip: the market waits for its projector to catch up first.
            # 409: someone else's buy emptied the listing; try the next one.
            if response.status_code not in (503, 409):
                break
            time.sleep(0.5)
    if response is None or response.status_code != 201:
        raise DemoStopped(
            f"the buy through the proxy failed: {response and response.status_code} {response and response.text}"
        )
    sale = response.json()
    say(
        f"POST /api/sales/ through the proxy with the player's legacy token -> {response.status_code}, "
        f"answered by {response.headers.get('x-strangler-upstream')} (sale {sale['id']})"
    )
    dbs = story.stack.endpoints["databases"]
    found: dict[str, bool] = {"market": False, "legacy": False}
    queries = {"market": "SELECT 1 FROM sales WHERE sale_id = %s", "legacy": "SELECT 1 FROM smp_sale WHERE id = %s"}
    deadline = time.monotonic() + 30
    while not all(found.values()) and time.monotonic() < deadline:
        for store, sql in queries.items():
            if not found[store]:
                with psycopg.connect(dbs[store]) as conn:
                    found[store] = conn.execute(sql, (sale["id"],)).fetchone() is not None
        time.sleep(0.2)
    for store, ok in found.items():
        where = "the market service's store (sales)" if store == "market" else "the monolith's table (smp_sale)"
        say(f"  sale {sale['id']} in {where}: {'yes' if ok else 'NOT within 30 s'}", style="green" if ok else "red")
    if not all(found.values()):
        raise DemoStopped("the sale did not reach both stores within 30 s")


def finish(story: Story) -> None:
    from migration_plan.control import ControlStore

    _heading("5. the audit history: every step is a route version (who, when, why)")
    steps = ControlStore(story.access.control_dsn).steps(12)
    table = Table(title="plan steps, newest first (strangler plan history)")
    for col in ("when", "endpoint", "step", "v", "why"):
        table.add_column(col, overflow="fold")
    for s in steps:
        step = f"{s['direction']} {s['from_stage']} -> {s['to_stage']}"
        text: Text | str = Text(step + " FORCED", style="red") if s["forced"] else step
        table.add_row(*cells(s["taken_at"][11:19], s["endpoint"], text, s["route_version"], s["reason"]))
    console.print(table)
    if story.forced:
        say(
            "forced steps (the demo's light traffic could not reach the plan's thresholds in time): "
            + "; ".join(story.forced),
            style="yellow",
        )
    sd = story.stack.state_dir
    _heading("what to try next")
    for line in (
        f"strangler plan status --state-dir {sd}            # every endpoint, its gates and figures",
        f"strangler routes history --state-dir {sd}         # the route table's versions",
        f"strangler routes diffs --state-dir {sd}           # shadow differences, field by field",
        f"strangler parity check pricing --state-dir {sd}   # the stores compared, aggregate by aggregate",
        f'strangler plan rollback pricing.rate --reason "try a rollback" --state-dir {sd}',
        f'strangler plan rollback market.buy --reason "writes back to the monolith" --state-dir {sd}',
    ):
        say("  " + line)


def where_routes_are(story: Story) -> str:
    """Each story endpoint's stage, from the live route table alone (no
    figures, no parity check: this runs while stopping)."""
    from migration_plan.engine import Admin, live_route, stage_index, stage_name

    with contextlib.suppress(Exception):
        live = Admin(story.access, story.actor).call("GET", "/_strangler/routes")["routes"]
        out = []
        for endpoint_id in (*PRICING_ENDPOINTS, MARKET_WRITES):
            endpoint = story.plan.endpoint(endpoint_id)
            route = live_route(endpoint, live)
            out.append(f"{endpoint_id} at {stage_name(endpoint, stage_index(endpoint, route), route)}")
        return ", ".join(out)
    return "unknown (the stack did not answer)"


def demo(
    state_dir: Path = StateOpt,
    seed_sales: int = typer.Option(20000, "--seed-sales", min=0, help="Sales to seed when the demo starts the stack."),
    pace: float = typer.Option(20.0, "--pace", min=0.0, help="Seconds to dwell on each stage."),
    gate_wait: float = typer.Option(
        120.0, "--gate-wait", min=0.0, help="Longest wait for a stage's gates before forcing (recorded as forced)."
    ),
    use_running: bool = typer.Option(False, "--use-running", help="Attach to the stack already up in --state-dir."),
    plan_file: Path = typer.Option(Path("migration-plan.yaml"), "--plan", help="The plan file."),
    reset: bool = typer.Option(
        False, "--reset", help="First step pricing and the market's writes back to legacy (audited rollbacks)."
    ),
    keep_running: bool = typer.Option(
        True,
        "--keep-running/--exit-when-done",
        help="When the demo started the stack: keep it up after the story until Ctrl-C.",
    ),
) -> None:
    """The migration story on the local stack, narrated: seed, steady traffic,
    pricing through shadow and canary to new, then the market's writes.
    Ctrl-C stops cleanly at any point (exit 130)."""
    from strangler_cli.plan import access, load

    plan = load(plan_file)
    endpoints = endpoints_or_none(state_dir)
    if use_running and endpoints is None:
        fail(f"--use-running: no stack runs in {state_dir} (start one with `strangler up`)", ExitCode.UNREACHABLE)
    stack: Stack | None = None
    story: Story | None = None
    interrupted = False
    try:
        if endpoints is not None:
            stack = Stack(state_dir, endpoints)
            say(f"using the stack already running in {state_dir} (it stays up when the demo ends)")
        else:
            stack = start_stack(state_dir, seed_sales)
        admin_token(None, state_dir)
        traffic = Traffic(stack.proxy, items_of(stack.proxy))
        story = Story(stack, plan, access(state_dir, None), traffic, pace, gate_wait)
        reset_or_note(story, reset)
        introduce(story)
        start_traffic(story)
        migrate_pricing(story)
        migrate_market(story)
        story.where = "done"
        finish(story)
        stop_traffic(story)
        if stack.process is not None and keep_running:
            say("the stack stays up for you to explore; Ctrl-C stops it", style="bold")
            while stack.process.poll() is None:
                time.sleep(1)
    except KeyboardInterrupt:
        interrupted = story is None or story.where != "done"
        console.print()
        say("interrupted (Ctrl-C): stopping cleanly", style="yellow")
    except DemoStopped as exc:
        say(f"the demo stopped: {exc}", style="red", stderr=True)
        _wrap_up(stack, story, "stopped")
        raise typer.Exit(int(ExitCode.FAILURE)) from None
    except httpx.HTTPError as exc:
        say(f"the demo stopped: the stack did not answer: {exc}", style="red", stderr=True)
        _wrap_up(stack, story, "stopped")
        raise typer.Exit(int(ExitCode.UNREACHABLE)) from None
    except BaseException:
        # A bug must not leave threads running or the stack the demo started behind.
        _wrap_up(stack, story, "stopped")
        raise
    _wrap_up(stack, story, "interrupted" if interrupted else "done")
    if interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))


def stop_traffic(story: Story) -> None:
    """Stop the traffic threads (once) and say so."""
    if story.traffic.reported:
        return
    story.traffic.reported = True
    stopped = story.traffic.halt()
    sent = story.traffic.snapshot()["requests"]
    say(f"traffic stopped ({sent} requests sent)" + ("" if stopped else "; a thread did not stop within 15 s"))


def _wrap_up(stack: Stack | None, story: Story | None, how: str) -> None:
    """Stop traffic, say where things are, stop the stack the demo started."""
    # A second Ctrl-C must not leave threads or the stack behind.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if story is not None:
            stop_traffic(story)
            if how != "done":
                say(f"the story stopped at: {story.where}")
                say(f"routes now: {where_routes_are(story)}")
                say(
                    "every route is at a plan stage (each step is one audited route version); "
                    "`strangler plan rollback TARGET --reason ...` steps back"
                )
        if stack is not None:
            stop_stack(stack)
    finally:
        signal.signal(signal.SIGINT, previous)
