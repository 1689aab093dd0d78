"""Gate evaluation: a stage's gates against live figures. Pure.

A gate whose figure is unknown (no traffic yet, no relay status, parity not
run) *fails*, saying why: "not measured" must never let a route move on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from migration_plan.figures import RouteFigures


@dataclass(frozen=True)
class ContextFigures:
    """Figures of the endpoint's context, beside the route's own."""

    cdc_lag_s: float | None = None
    cdc_detail: str = ""
    parity_differences: int | None = None
    parity_detail: str = ""


@dataclass(frozen=True)
class GateResult:
    gate: str
    figure: float | int | bool | None
    threshold: float | int | bool
    passed: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "figure": self.figure,
            "threshold": self.threshold,
            "passed": self.passed,
            "detail": self.detail,
        }


def _at_most(gate: str, figure: float | None, limit: float, unknown: str) -> GateResult:
    if figure is None:
        return GateResult(gate, None, limit, False, unknown)
    return GateResult(gate, round(figure, 6), limit, figure <= limit)


def _at_least(gate: str, figure: int, limit: int) -> GateResult:
    return GateResult(gate, figure, limit, figure >= limit)


def evaluate_gate(gate: str, threshold: float | int | bool, route: RouteFigures, context: ContextFigures) -> GateResult:
    """One gate; ``KeyError`` for a gate name the plan file would refuse."""
    if gate == "min_shadow_requests":
        return _at_least(gate, route.shadow_compared, int(threshold))
    if gate == "min_new_requests":
        return _at_least(gate, route.new_requests, int(threshold))
    if gate == "max_mismatch_rate":
        return _at_most(gate, route.mismatch_rate, float(threshold), "no shadow comparison yet")
    if gate == "max_error_rate":
        return _at_most(gate, route.new_error_rate, float(threshold), "no request reached the new service yet")
    if gate == "max_error_rate_increase":
        new, old = route.new_error_rate, route.legacy_error_rate
        increase = None if new is None else new - (old or 0.0)
        return _at_most(gate, increase, float(threshold), "no request reached the new service yet")
    if gate == "max_p99_ms":
        return _at_most(gate, route.new_p99_ms, float(threshold), "no timed request on the new service yet")
    if gate == "max_p99_ratio":
        if route.new_p99_ms is None or not route.legacy_p99_ms:
            return GateResult(gate, None, float(threshold), False, "needs timed requests on both sides")
        return _at_most(gate, route.new_p99_ms / route.legacy_p99_ms, float(threshold), "")
    if gate == "max_cdc_lag_s":
        result = _at_most(gate, context.cdc_lag_s, float(threshold), context.cdc_detail or "no CDC status")
        return result if result.detail else GateResult(**{**result.__dict__, "detail": context.cdc_detail})
    if gate == "parity":
        if not threshold:
            return GateResult(gate, context.parity_differences, False, True, "not required")
        if context.parity_differences is None:
            return GateResult(gate, None, 0, False, context.parity_detail or "parity not checked")
        return GateResult(gate, context.parity_differences, 0, context.parity_differences == 0, context.parity_detail)
    raise KeyError(gate)


def evaluate(gates: Mapping[str, float | int | bool], route: RouteFigures, context: ContextFigures) -> list[GateResult]:
    """Every gate of a stage, in the plan's order."""
    return [evaluate_gate(g, t, route, context) for g, t in gates.items()]


def all_passed(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)
