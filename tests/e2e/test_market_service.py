"""The market service in the stack ``strangler up`` starts: its projector
builds its store from the real CDC -> ACL stream (snapshot of the seeded
monolith), and its reads answer as the monolith's for the same rows."""

from __future__ import annotations

import httpx
from stack_support import SEEDED_SALES, RunningStack

from local_stack.processes import wait_until


def _ready(market: str) -> bool:
    try:
        body = httpx.get(f"{market}/readyz", timeout=5).json()
    except httpx.HTTPError:
        return False
    return bool(body["ready"]) and body["events_applied"] > SEEDED_SALES


def test_the_market_projects_the_legacy_stream_and_reads_as_the_monolith(stack: RunningStack) -> None:
    endpoints = stack.endpoints
    assert {"market", "market-projector"} <= set(endpoints["processes"])
    market, legacy = endpoints["services"]["market"], endpoints["legacy"]
    wait_until(lambda: _ready(market), timeout=180, what="the market projector caught up", interval=1.0)

    def same_sales() -> bool:
        ours = httpx.get(f"{market}/api/sales/?limit=30&offset=5", timeout=10)
        theirs = httpx.get(f"{legacy}/api/sales/?limit=30&offset=5", timeout=10)
        return ours.status_code == theirs.status_code == 200 and ours.json()["results"] == theirs.json()["results"]

    wait_until(same_sales, timeout=60, what="the market's sales equal the monolith's", interval=1.0)
    # Closed listings carry their legacy upd_dt in their closing event: equal, updated_at included.
    ours = httpx.get(f"{market}/api/listings/?status=F&limit=20", timeout=10).json()
    theirs = httpx.get(f"{legacy}/api/listings/?status=F&limit=20", timeout=10).json()
    assert ours["count"] == theirs["count"] > 0
    assert ours["results"] == theirs["results"]
    # An open listing snapshotted after a sale: its events carry no upd_dt (a known gap, docs/market-service.md).
    ours_open = httpx.get(f"{market}/api/listings/?status=O&limit=20", timeout=10).json()["results"]
    theirs_open = httpx.get(f"{legacy}/api/listings/?status=O&limit=20", timeout=10).json()["results"]
    assert [{**x, "updated_at": None} for x in ours_open] == [{**x, "updated_at": None} for x in theirs_open]
    refused = httpx.post(f"{market}/api/sales/", json={"listing": 1, "quantity": 1}, timeout=10)
    assert refused.status_code == 401  # no identity header: the proxy is the only way in
