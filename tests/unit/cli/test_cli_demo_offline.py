"""``strangler demo`` without a stack: what it refuses, and how it counts
and summarises its traffic (the story itself runs in tests/e2e/test_demo.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cli_support import invoke

from strangler_cli.demo import Traffic, _gates_text


def test_use_running_without_a_stack_exits_unreachable(tmp_path: Path) -> None:
    result = invoke(None, "demo", "--use-running", "--state-dir", str(tmp_path))
    assert result.exit_code == 3, result.output
    assert "no stack runs in" in result.output


def test_the_traffic_summary_says_what_was_sent_and_who_answered() -> None:
    traffic = Traffic("http://proxy.test", [1])
    before = Counter({"requests": 10, "rate": 10, "upstream:legacy": 10})
    traffic.counts.update(
        {"requests": 30, "rate": 20, "history": 8, "buy": 2, "buys_ok": 1, "errors": 1}
        | {"upstream:legacy": 20, "upstream:pricing": 9}
    )
    line = traffic.summary(before, 10.0)
    assert line.startswith("traffic: 20 requests in 10 s (2/s: rate 10, history 8, listings 0, buys 2 (1 ok))")
    assert "answered by legacy 50%, pricing 45%" in line and line.endswith("errors 1")


def test_threads_stop_when_asked() -> None:
    traffic = Traffic("http://127.0.0.1:9", [1])  # nothing listens: every read is an error, counted
    traffic.start(readers=2)
    assert traffic.halt(timeout=15)
    sent = traffic.snapshot()["requests"]
    assert traffic.snapshot()["requests"] == sent and sent == traffic.snapshot()["errors"]


def test_gate_figures_show_figure_over_threshold() -> None:
    endpoint = {
        "stage": "shadow",
        "stages": ["shadow"],
        "gates": [
            {"gate": "min_shadow_requests", "figure": 25, "threshold": 200, "passed": False},
            {"gate": "max_mismatch_rate", "figure": 0.0, "threshold": 0.001, "passed": True},
        ],
    }
    assert _gates_text(endpoint).plain == "min_shadow_requests 25/200, max_mismatch_rate 0/0.001"
    assert _gates_text(endpoint, only_failed=True).plain == "min_shadow_requests 25/200"
