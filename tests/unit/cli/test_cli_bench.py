"""``strangler bench``: which scripts a group runs, how a script's run is
bounded, and how figures, baselines and ratios come out of their JSON.

The scripts themselves are the benchmarks (run by hand or by ``make bench``);
here fake scripts stand in for them, so these tests take well under a second
of work each.
"""

from __future__ import annotations

import json
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_support import invoke

from local_stack.processes import wait_until
from strangler_cli import bench
from strangler_cli.bench import Group, Spec, Step, StepResult, build_report, figures, markdown, plan, run_plan, run_step

ROOT = Path(__file__).resolve().parents[3]


def _script(tmp_path: Path, name: str, body: str) -> Step:
    (tmp_path / name).write_text(textwrap.dedent(body))
    return Step(name.removesuffix(".py"), name, (), frozenset({"proxy"}), 30)


def test_groups_pick_their_scripts_and_all_runs_each_once() -> None:
    names = {g: [s.name for s in plan(g)] for g in Group}
    assert names[Group.proxy] == ["proxy", "proxy_load"]
    assert names[Group.cdc] == ["relay_tagging", "cdc_lag", "cdc_snapshot", "pricing"]
    assert names[Group.reads] == ["pricing"]
    assert names[Group.writes] == ["market_writes"]
    assert names[Group.all] == [s.name for s in bench.STEPS] and len(set(names[Group.all])) == len(bench.STEPS)


def test_every_step_names_a_script_that_exists_and_all_fits_its_budget() -> None:
    for step in bench.STEPS:
        assert (ROOT / "bench" / step.script).is_file(), step.script
    # each step is bounded; the run as a whole is bounded by the budget (checked by run_plan)
    assert all(0 < s.timeout_s <= bench.DEFAULT_BUDGET_S for s in bench.STEPS)
    assert bench.DEFAULT_BUDGET_S < 15 * 60


def test_every_figure_points_at_a_step_that_runs_in_its_group() -> None:
    for spec in bench.SPECS:
        for where in (spec.value, spec.baseline):
            assert where is not None
            step = where.partition(":")[0]
            assert step in {s.name for s in plan(Group.all)}, where
        assert spec.value.partition(":")[0] in {s.name for s in plan(Group(spec.group))}, spec.name
        assert spec.better in ("higher", "lower")


def test_a_step_gives_its_json_and_streams_its_progress(tmp_path: Path) -> None:
    step = _script(
        tmp_path,
        "fake.py",
        """
        import json, sys
        print("warming up", file=sys.stderr, flush=True)
        print("not json")
        print(json.dumps({"results": {"rps": 12.5}}))
        """,
    )
    lines: list[str] = []
    result = run_step(step, bench_dir=tmp_path, timeout_s=30, progress=lines.append)
    assert result.ok and result.output == {"results": {"rps": 12.5}}
    assert lines == ["warming up"]


def test_a_failing_step_says_why_with_the_end_of_its_progress(tmp_path: Path) -> None:
    step = _script(tmp_path, "broken.py", "import sys\nprint('stack did not start', file=sys.stderr)\nsys.exit(3)\n")
    result = run_step(step, bench_dir=tmp_path, timeout_s=30, progress=lambda _: None)
    assert not result.ok and result.error is not None
    assert "exit code 3" in result.error and "stack did not start" in result.error


def test_a_step_past_its_timeout_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    step = _script(
        tmp_path,
        "stuck.py",
        f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("started", file=sys.stderr, flush=True)
        child.wait()
        """,
    )
    started = time.monotonic()
    # long enough for both interpreters to start on a loaded machine
    result = run_step(step, bench_dir=tmp_path, timeout_s=6, progress=lambda _: None)
    assert not result.ok and result.error == "timed out after 6s"
    assert time.monotonic() - started < 40
    written = pid_file.read_text().strip() if pid_file.exists() else ""
    if written:  # the grandchild was started: it went with its group
        child = int(written)

        def gone() -> bool:
            stat = Path(f"/proc/{child}/stat")
            return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")

        wait_until(gone, timeout=10, what=f"pid {child} to end")


def test_the_budget_skips_what_cannot_fit(tmp_path: Path) -> None:
    step = _script(tmp_path, "quick.py", "print('{}')\n")
    lines: list[str] = []
    results = run_plan([step, step], bench_dir=tmp_path, budget_s=bench.MIN_STEP_S - 1, progress=lines.append)
    assert all(not r.ok and (r.error or "").startswith("skipped: ") for r in results)
    assert len(lines) == 2 and all("skipped" in line for line in lines)


OUTPUTS = {
    "proxy": {
        "results": {
            "ours_c32": {"rps": 3000.0},
            "nginx_c32": {"rps": 12000.0},
            "ours_c1": {"p50_ms": 0.2},
            "direct_c1": {"p50_ms": 0.1},
        }
    },
    "market_writes": {"legacy": {"p50_ms": 60.0, "p99_ms": 150.0}, "market": {"p50_ms": 90.0}},
}


def test_figures_carry_their_baseline_and_ratio() -> None:
    found = {f.name: f for f in figures(OUTPUTS, Group.all)}
    rps = found["req/s, 1 worker, 32 conns"]
    assert (rps.value, rps.baseline, rps.ratio, rps.better) == (3000.0, 12000.0, 0.25, "higher")
    assert found["p50, 1 conn"].ratio == 2.0
    assert found["purchase p50 (market saga)"].ratio == 1.5
    assert "purchase p99 (market saga)" not in found  # no value measured: no figure
    assert {f.group for f in figures(OUTPUTS, Group.writes)} == {"writes"}


def test_a_missing_baseline_leaves_the_ratio_empty() -> None:
    spec = Spec("cdc", "x", "ms", "a:v", "b", "b:v", "lower")
    (figure,) = figures({"a": {"v": 5}}, Group.all, [spec])
    assert figure.baseline is None and figure.ratio is None
    assert figures({"a": {"v": True}}, Group.all, [spec]) == []  # a flag is not a figure


def test_the_report_and_its_table_say_what_ran_and_what_failed(tmp_path: Path) -> None:
    results = [
        StepResult("proxy", True, 61.0, OUTPUTS["proxy"]),
        StepResult("market_writes", False, 300.0, None, "timed out after 300s"),
    ]
    report = build_report(Group.all, results, started=datetime(2026, 12, 1, tzinfo=UTC), budget_s=840)
    assert report["seconds"] == 361.0 and not report["steps"]["market_writes"]["ok"]
    table = markdown(report)
    assert (
        "| proxy | req/s, 1 worker, 32 conns | 3,000 req/s | nginx, 1 worker | 12,000 req/s | 0.25x | higher |" in table
    )
    assert "- `market_writes` (300 s): timed out after 300s" in table
    json_path, md_path = bench.write_report(report, tmp_path, Group.proxy)
    assert (json_path.name, md_path.name) == ("latest-proxy.json", "latest-proxy.md")
    assert json.loads(json_path.read_text())["figures"][0]["ratio"] == 0.25


def test_the_command_writes_both_files_and_prints_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "fake.py").write_text(
        "import json\nprint(json.dumps({'legacy': {'p50_ms': 50}, 'market': {'p50_ms': 75}}))\n"
    )
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    monkeypatch.setattr(bench, "STEPS", (Step("market_writes", "fake.py", (), frozenset({"writes"}), 30),))
    result = invoke(None, "bench", "writes", "--json", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(f["name"], f["ratio"]) for f in report["figures"]] == [("purchase p50 (market saga)", 1.5)]
    assert (tmp_path / "out" / "latest-writes.md").read_text().startswith("# `strangler bench writes`")


def test_a_figure_whose_run_did_not_complete_is_left_out_and_so_is_such_a_baseline() -> None:
    outputs = {
        "pricing": {"build": {"completed": True, "sales_per_second": 2000.0}},
        "cdc_snapshot": {"completed": False, "rows_per_second_end_to_end": 9000.0},
    }
    (figure,) = [f for f in figures(outputs, Group.cdc) if f.name == "snapshot rows/s, pricing consuming"]
    assert (figure.value, figure.baseline, figure.ratio) == (2000.0, None, None)
    outputs["pricing"]["build"]["completed"] = False
    assert not [f for f in figures(outputs, Group.cdc) if f.name == "snapshot rows/s, pricing consuming"]


FIXTURES = ROOT / "tests" / "fixtures" / "bench"


def test_every_figure_is_found_in_real_outputs_of_the_scripts() -> None:
    """Outputs the scripts printed (tests/fixtures/bench: a loaded machine's,
    whose snapshot did not complete; pricing's from its 1M run), so a key
    renamed in a script shows here rather than as a figure missing from a
    15-minute run."""
    outputs = {path.stem: json.loads(path.read_text()) for path in FIXTURES.glob("*.json")}
    assert set(outputs) == {s.name for s in bench.STEPS}
    found = {f.name: f for f in figures(outputs, Group.all)}
    assert set(found) == {s.name for s in bench.SPECS}
    incomplete = {name for name, f in found.items() if f.baseline is None}
    assert incomplete == {"snapshot rows/s, pricing consuming"}  # its baseline run timed out
    assert all(f.ratio is not None and f.ratio > 0 for n, f in found.items() if n not in incomplete)
