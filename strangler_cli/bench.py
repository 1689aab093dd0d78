"""``strangler bench [all|proxy|cdc|reads|writes]``: the benchmarks of ``bench/``
in one bounded run, every figure next to a baseline measured in the same run.

Why one entry point: each ``bench/bench_*.py`` prints its own JSON with its own
keys, at sizes meant for a quiet machine. Figures taken on different days on
a shared 2-core machine are not comparable; a figure and its baseline taken
minutes apart are. So this command runs the scripts (as child processes,
sized to fit ``--budget``, 14 minutes by default for ``all``), streams their
progress, picks from their output each figure with its baseline (nginx for
the proxy, the monolith for pricing and the market, the pipeline without a
new service for CDC) and the ratio, and writes:

- ``<out>/latest.json`` (``latest-<group>.json`` for one group): the figures,
  each step's raw output, time taken and any failure;
- ``<out>/latest.md``: the same figures as a Markdown table (the README
  links the one from ``all``).

A step that fails or runs out of time is reported as such; the others still
run. Needs a checkout (the scripts live in ``bench/``), plus nginx and wrk
(the proxy scripts install them with apt-get when missing).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.table import Table

from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import cells, console, examples, fail, print_json, say

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "bench-results"
#: The whole of ``all`` fits in this on 2 cores (issue 12 asks for < 15 minutes).
DEFAULT_BUDGET_S = 14 * 60
#: A step is not started with less than this left: it would only be cut short.
MIN_STEP_S = 45.0


class Group(str, Enum):
    all = "all"
    proxy = "proxy"
    cdc = "cdc"
    reads = "reads"
    writes = "writes"


@dataclass(frozen=True)
class Step:
    """One benchmark script run: its arguments are sized so ``all`` fits the budget."""

    name: str
    script: str
    args: tuple[str, ...]
    groups: frozenset[str]
    timeout_s: float
    env: Mapping[str, str] = field(default_factory=dict)


STEPS: tuple[Step, ...] = (
    Step("proxy", "bench_proxy.py", (), frozenset({"proxy"}), 180, {"BENCH_DURATION": "3s"}),
    Step("proxy_load", "bench_proxy_load.py", ("--seconds", "4", "--idle", "1000"), frozenset({"proxy"}), 180),
    Step("relay_tagging", "bench_relay_tagging.py", (), frozenset({"cdc"}), 120),
    Step("cdc_lag", "bench_cdc_lag.py", ("--rate", "500", "--seconds", "20"), frozenset({"cdc"}), 240),
    Step("cdc_snapshot", "bench_cdc_snapshot.py", ("--rows", "100000", "--timeout", "200"), frozenset({"cdc"}), 300),
    # cheaper steps first: when a busy machine eats the budget, the most expensive one is the one cut
    Step(
        "market_writes",
        "bench_market_writes.py",
        ("--sales", "5000", "--purchases", "100", "--rounds", "2"),
        frozenset({"writes"}),
        300,
    ),
    # pricing feeds both: its read-model build is the snapshot with a new service consuming it
    Step(
        "pricing",
        "bench_pricing.py",
        (
            "--sales",
            "100000",
            "--requests",
            "200",
            "--warmup",
            "50",
            "--wrk-seconds",
            "5",
            "--lag-seconds",
            "15",
            "--build-timeout",  # counted from launch: a loaded machine took 272 s to start the stack
            "360",
            "--stall-seconds",
            "120",
        ),
        frozenset({"cdc", "reads"}),
        540,
    ),
)


def plan(which: Group, steps: Sequence[Step] | None = None) -> list[Step]:
    """The steps a group needs, in the order ``all`` runs them."""
    return [s for s in (STEPS if steps is None else steps) if which is Group.all or which.value in s.groups]


# -- running one step -------------------------------------------------------------------


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    output: dict[str, Any] | None = None
    error: str | None = None


Progress = Callable[[str], None]


def _last_json_object(text: str) -> dict[str, Any] | None:
    """The script's JSON: the whole stdout, else its last line that is an object."""
    with contextlib.suppress(ValueError):
        value = json.loads(text)
        return value if isinstance(value, dict) else None
    for line in reversed(text.strip().splitlines()):
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    return None


def _pump(stream: TextIO, progress: Progress, tail: list[str]) -> None:
    for raw in stream:
        line = raw.rstrip()
        if line:
            progress(line)
            tail[:] = [*tail[-19:], line]


def _stop_group(process: subprocess.Popen[str], grace_s: float = 20.0) -> None:
    """SIGTERM to the script's process group (the scripts stop their stacks on
    it), SIGKILL after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait_s)
            return


def run_step(
    step: Step, *, bench_dir: Path, timeout_s: float, progress: Progress, python: str = sys.executable
) -> StepResult:
    """Runs one script, streaming its stderr to ``progress``; its stdout (the
    JSON) goes to a file so a big document never blocks on a full pipe."""
    started = time.monotonic()
    tail: list[str] = []
    with tempfile.TemporaryFile("w+") as stdout:
        process = subprocess.Popen(
            [python, str(bench_dir / step.script), *step.args],
            cwd=bench_dir,
            env={**os.environ, **step.env},
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own group: a timeout stops everything it started
        )
        assert process.stderr is not None
        pump = threading.Thread(target=_pump, args=(process.stderr, progress, tail), daemon=True)
        pump.start()
        try:
            code = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            pump.join(5)
            return StepResult(step.name, False, time.monotonic() - started, error=f"timed out after {timeout_s:.0f}s")
        except BaseException:
            _stop_group(process)
            raise
        pump.join(5)
        stdout.seek(0)
        output = _last_json_object(stdout.read())
    seconds = time.monotonic() - started
    if code != 0 or output is None:
        why = f"exit code {code}" if code != 0 else "no JSON on stdout"
        return StepResult(step.name, False, seconds, output, f"{why}: {' | '.join(tail[-3:])}")
    return StepResult(step.name, True, seconds, output)


# -- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured figure beside the baseline it is judged against."""

    group: str
    name: str
    unit: str
    value: float
    baseline_name: str
    baseline: float | None
    better: str  # "higher" or "lower"
    source: str

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return round(self.value / self.baseline, 3)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _get(document: Mapping[str, Any] | None, path: str) -> Any:
    """``a.b.c`` in nested dicts; ``None`` when any part is missing."""
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True)
class Spec:
    """Where a figure and its baseline are in the steps' outputs (``step:path``).

    ``requires``: flags (``step:path``) that must be ``true`` for the numbers
    to mean anything, e.g. a snapshot that timed out still reports a rate
    computed over every row it was given."""

    group: str
    name: str
    unit: str
    value: str
    baseline_name: str
    baseline: str | None
    better: str
    requires: tuple[str, ...] = ()


def _at(outputs: Mapping[str, Mapping[str, Any]], where: str | None) -> float | None:
    if where is None:
        return None
    step, _, path = where.partition(":")
    value = _get(outputs.get(step), path)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _holds(outputs: Mapping[str, Mapping[str, Any]], flags: Iterable[str], step: str) -> bool:
    """Whether every flag of ``step`` (flags of other steps are not its concern) is true."""
    return all(_get(outputs.get(s), path) is True for s, _, path in (f.partition(":") for f in flags) if s == step)


SPECS: tuple[Spec, ...] = (
    # proxy: nginx and going direct are the baselines
    Spec("proxy", "req/s, 1 worker, 32 conns", "req/s", "proxy:results.ours_c32.rps", "nginx, 1 worker", "proxy:results.nginx_c32.rps", "higher"),
    Spec("proxy", "p50, 1 conn", "ms", "proxy:results.ours_c1.p50_ms", "direct to upstream", "proxy:results.direct_c1.p50_ms", "lower"),
    Spec("proxy", "p99, 64 conns", "ms", "proxy:results.ours_c64.p99_ms", "proxy p50, 64 conns", "proxy:results.ours_c64.p50_ms", "lower"),
    Spec("proxy", "p50, 1 conn, shadow route", "ms", "proxy:results.ours_shadow_c1.p50_ms", "legacy route", "proxy:results.ours_c1.p50_ms", "lower"),
    Spec("proxy", "p50, 1 conn, new route + token", "ms", "proxy:results.ours_new_token_c1.p50_ms", "new route, no token", "proxy:results.ours_new_c1.p50_ms", "lower"),
    Spec("proxy", "req/s, 2 workers, 64 conns", "req/s", "proxy_load:workers.proxy_2w_c64.rps", "nginx, 2 workers", "proxy_load:workers.nginx_2w_c64.rps", "higher"),
    Spec("proxy", "p99, 2 workers, 64 conns", "ms", "proxy_load:workers.proxy_2w_c64.p99_ms", "nginx, 2 workers", "proxy_load:workers.nginx_2w_c64.p99_ms", "lower"),
    Spec("proxy", "req/s, shadow, 32 conns", "req/s", "proxy_load:modes.shadow_c32.rps", "legacy mode", "proxy_load:modes.legacy_c32.rps", "higher"),
    Spec("proxy", "p50, shadow, 32 conns", "ms", "proxy_load:modes.shadow_c32.p50_ms", "legacy mode", "proxy_load:modes.legacy_c32.p50_ms", "lower"),
    Spec("proxy", "req/s, canary 50%, 32 conns", "req/s", "proxy_load:modes.canary_50_c32.rps", "legacy mode", "proxy_load:modes.legacy_c32.rps", "higher"),
    Spec("proxy", "p50, canary 50%, 32 conns", "ms", "proxy_load:modes.canary_50_c32.p50_ms", "legacy mode", "proxy_load:modes.legacy_c32.p50_ms", "lower"),
    Spec("proxy", "RSS growth per 1,000 idle keep-alive conns", "KiB", "proxy_load:memory_per_1000_idle.proxy_2w.kib_per_1000", "nginx, 2 workers", "proxy_load:memory_per_1000_idle.nginx_2w.kib_per_1000", "lower"),
    Spec("proxy", "RSS with 1,000 idle conns open", "KiB", "proxy_load:memory_per_1000_idle.proxy_2w.rss_with_connections_kib", "nginx, 2 workers", "proxy_load:memory_per_1000_idle.nginx_2w.rss_with_connections_kib", "lower"),
    # cdc: the pipeline's own stages, and the pipeline without a new service
    Spec("cdc", "relay loop per record, sync-back tagging on", "ns", "relay_tagging:untagged", "relay loop without tagging", "relay_tagging:baseline", "lower"),
    Spec("cdc", "relay loop per record in a sync-back transaction", "ns", "relay_tagging:tagged", "relay loop without tagging", "relay_tagging:baseline", "lower"),
    Spec("cdc", "commit -> domain event p50, paced writes", "ms", "cdc_lag:lag_ms.p50", "capture alone (commit -> legacy topic)", "cdc_lag:stages_ms.capture.p50", "lower"),
    Spec("cdc", "commit -> domain event p99, paced writes", "ms", "cdc_lag:lag_ms.p99", "capture alone (commit -> legacy topic)", "cdc_lag:stages_ms.capture.p99", "lower"),
    Spec("cdc", "commit -> pricing row p50 (new service consuming)", "ms", "pricing:lag.lag_ms.p50", "commit -> domain event", "cdc_lag:lag_ms.p50", "lower"),
    Spec("cdc", "snapshot rows/s, pricing consuming", "rows/s", "pricing:build.sales_per_second", "snapshot alone (relay + ACL)", "cdc_snapshot:rows_per_second_end_to_end", "higher", ("pricing:build.completed", "cdc_snapshot:completed")),
    # reads: the monolith is the baseline
    Spec("reads", "GET rate p50, 1 conn, via proxy", "ms", "pricing:reads.rate.new.c1.p50_ms", "monolith via proxy", "pricing:reads.rate.legacy.c1.p50_ms", "lower", ("pricing:build.completed",)),
    Spec("reads", "GET rate p99, 1 conn, via proxy", "ms", "pricing:reads.rate.new.c1.p99_ms", "monolith via proxy", "pricing:reads.rate.legacy.c1.p99_ms", "lower", ("pricing:build.completed",)),
    Spec("reads", "GET rate req/s, 32 conns, via proxy", "req/s", "pricing:reads.rate.new.c32.rps", "monolith via proxy", "pricing:reads.rate.legacy.c32.rps", "higher", ("pricing:build.completed",)),
    Spec("reads", "GET history p50, 1 conn, via proxy", "ms", "pricing:reads.history.new.c1.p50_ms", "monolith via proxy", "pricing:reads.history.legacy.c1.p50_ms", "lower", ("pricing:build.completed",)),
    Spec("reads", "GET history req/s, 32 conns, via proxy", "req/s", "pricing:reads.history.new.c32.rps", "monolith via proxy", "pricing:reads.history.legacy.c32.rps", "higher", ("pricing:build.completed",)),
    # writes: the monolith's own purchase is the baseline
    Spec("writes", "purchase p50 (market saga)", "ms", "market_writes:market.p50_ms", "monolith purchase", "market_writes:legacy.p50_ms", "lower"),
    Spec("writes", "purchase p99 (market saga)", "ms", "market_writes:market.p99_ms", "monolith purchase", "market_writes:legacy.p99_ms", "lower"),
)  # fmt: skip


def figures(outputs: Mapping[str, Mapping[str, Any]], which: Group, specs: Iterable[Spec] = SPECS) -> list[Figure]:
    """The figures of the groups asked for whose value was measured (a
    missing baseline leaves the ratio empty rather than the figure out)."""
    found = []
    for spec in specs:
        if which is not Group.all and spec.group != which.value:
            continue
        source = spec.value.partition(":")[0]
        value = _at(outputs, spec.value) if _holds(outputs, spec.requires, source) else None
        if value is None:
            continue
        baseline_step = (spec.baseline or "").partition(":")[0]
        baseline = _at(outputs, spec.baseline) if _holds(outputs, spec.requires, baseline_step) else None
        found.append(Figure(spec.group, spec.name, spec.unit, value, spec.baseline_name, baseline, spec.better, source))
    return found


#: What each step ran under, as its own output says (a busy machine shows
#: here first: writes/s achieved below the target, a build not completed).
CONDITIONS: dict[str, tuple[str, ...]] = {
    "proxy": ("duration", "cpus"),
    "proxy_load": ("seconds_per_run", "memory_per_1000_idle.proxy_2w.connections"),
    "cdc_lag": ("target_writes_per_second", "achieved_writes_per_second", "writes", "missing"),
    "cdc_snapshot": ("rows", "completed", "sales_committed_by_acl"),
    "pricing": ("sales", "build.completed", "build.seconds", "lag.achieved_writes_per_second", "lag.missing"),
    "market_writes": ("seeded_sales", "purchases_per_side"),
}


def conditions(outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        step: {path: _get(outputs[step], path) for path in paths}
        for step, paths in CONDITIONS.items()
        if step in outputs
    }


# -- the report -----------------------------------------------------------------------------


def build_report(
    which: Group,
    results: Sequence[StepResult],
    *,
    started: datetime,
    budget_s: float,
    load_at_start: Sequence[float] = (),
) -> dict[str, Any]:
    """Figures first (what people read), then every step's raw output."""
    outputs = {r.name: r.output for r in results if r.output is not None}
    return {
        "benchmark": f"strangler bench {which.value}",
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(sum(r.seconds for r in results), 1),
        "budget_seconds": budget_s,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_at_start": [round(x, 2) for x in load_at_start],
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "figures": [f.as_dict() for f in figures(outputs, which)],
        "conditions": conditions(outputs),
        "steps": {
            r.name: {"ok": r.ok, "seconds": round(r.seconds, 1), "error": r.error, "output": r.output} for r in results
        },
    }


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _ratio(figure: Mapping[str, Any]) -> str:
    return "-" if figure["ratio"] is None else f"{figure['ratio']:.2f}x"


def markdown(report: Mapping[str, Any]) -> str:
    """The report as people read it: one table, then what did not run."""
    lines = [
        f"# `{report['benchmark']}`",
        "",
        f"Started {report['started']}, {report['seconds']:.0f} s on {report['machine']['cpus']} CPUs "
        f"(load average {report['machine']['load_avg_at_start']} at the start, "
        f"{report['machine']['load_avg_at_end']} at the end). Every baseline was measured in "
        "the same run; ratio = figure / baseline (the `better` column says which way is good). "
        "Raw outputs: the JSON file beside this one.",
        "",
        "| group | figure | value | baseline | baseline value | ratio | better |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in report["figures"]:
        lines.append(
            f"| {f['group']} | {f['name']} | {_number(f['value'])} {f['unit']} | {f['baseline_name']} | "
            f"{_number(f['baseline'])} {f['unit'] if f['baseline'] is not None else ''} | {_ratio(f)} | {f['better']} |"
        )
    if report.get("conditions"):
        lines += ["", "Conditions, as each step reported them:", ""]
        lines += [
            f"- `{step}`: " + ", ".join(f"{path} {value}" for path, value in values.items())
            for step, values in report["conditions"].items()
        ]
    failed = {name: s for name, s in report["steps"].items() if not s["ok"]}
    if failed:
        lines += ["", "Steps that did not complete:", ""]
        lines += [f"- `{name}` ({s['seconds']:.0f} s): {s['error']}" for name, s in failed.items()]
    lines += ["", "Steps: " + ", ".join(f"`{n}` {s['seconds']:.0f} s" for n, s in report["steps"].items()), ""]
    return "\n".join(lines)


def write_report(report: Mapping[str, Any], out_dir: Path, which: Group) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "latest" if which is Group.all else f"latest-{which.value}"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def show(report: Mapping[str, Any]) -> None:
    table = Table(title=report["benchmark"])
    for column in ("group", "figure", "value", "baseline", "ratio", "better"):
        table.add_column(column, justify="right" if column in ("value", "ratio") else "left")
    for f in report["figures"]:
        baseline = f"{f['baseline_name']}: {_number(f['baseline'])}"
        table.add_row(
            *cells(f["group"], f["name"], f"{_number(f['value'])} {f['unit']}", baseline, _ratio(f), f["better"])
        )
    console.print(table)


# -- the command ------------------------------------------------------------------------------


def run_plan(
    steps: Sequence[Step], *, bench_dir: Path, budget_s: float, progress: Progress, python: str = sys.executable
) -> list[StepResult]:
    """Every step in turn, each bounded by its own timeout and what is left of the budget."""
    deadline = time.monotonic() + budget_s
    results = []
    for number, step in enumerate(steps, 1):
        left = deadline - time.monotonic()
        if left < MIN_STEP_S:
            results.append(StepResult(step.name, False, 0.0, error=f"skipped: {left:.0f}s of the budget left"))
            progress(f"== {step.name}: skipped, {left:.0f}s of the budget left")
            continue
        timeout = min(step.timeout_s, left)
        progress(f"== {number}/{len(steps)} {step.name} ({step.script}, at most {timeout:.0f}s)")
        clock = time.monotonic()

        def stamped(line: str, name: str = step.name, since: float = clock) -> None:
            progress(f"[{name} {time.monotonic() - since:5.0f}s] {line}")

        result = run_step(step, bench_dir=bench_dir, timeout_s=timeout, progress=stamped, python=python)
        results.append(result)
        progress(f"== {step.name}: {'done' if result.ok else 'FAILED: ' + str(result.error)} in {result.seconds:.0f}s")
    return results


BENCH_EXAMPLES = examples("strangler bench proxy", "strangler bench all", "strangler bench writes --json", "make bench")


def bench(
    which: Group = typer.Argument(Group.all, help="What to measure: all, or one group."),
    out_dir: Path = typer.Option(DEFAULT_OUT, "--out", help="Where latest[-GROUP].json and .md go."),
    budget: float = typer.Option(DEFAULT_BUDGET_S, "--budget", min=60, help="Seconds for the whole run."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (progress stays on stderr)."),
) -> None:
    """Run the benchmarks on the local stack; each figure beside its baseline from the same run."""
    bench_dir = ROOT / "bench"
    if not (bench_dir / STEPS[0].script).exists():
        fail(f"no benchmarks in {bench_dir}: strangler bench runs from a checkout of the repository")
    steps = plan(which)
    started, load_at_start = datetime.now(UTC), os.getloadavg()
    say(f"strangler bench {which.value}: {len(steps)} steps, budget {budget:.0f}s", stderr=True)
    results = run_plan(steps, bench_dir=bench_dir, budget_s=budget, progress=lambda line: say(line, stderr=True))
    report = build_report(which, results, started=started, budget_s=budget, load_at_start=load_at_start)
    json_path, md_path = write_report(report, out_dir, which)
    if as_json:
        print_json(report)
    else:
        show(report)
        say(f"written: {json_path} and {md_path}", stderr=True)
    if not all(r.ok for r in results):
        raise typer.Exit(int(ExitCode.FAILURE))
