"""The read cache's rules, without a database: what it keeps, for how
long, and what a change or a lost feed takes away."""

from __future__ import annotations

import datetime as dt

from new_services.pricing.service_layer.read_cache import Facts, ReadCache, earliest

NOON = dt.datetime(2026, 12, 1, 12, 0)
HOUR = dt.timedelta(hours=1)


def following_cache(max_entries: int = 100) -> ReadCache:
    cache = ReadCache(max_entries)
    cache.start_following()
    return cache


def test_facts_hold_from_when_they_were_read_until_their_edge() -> None:
    facts = Facts("x", NOON, NOON + HOUR)
    assert facts.holds_at(NOON) and facts.holds_at(NOON + HOUR - dt.timedelta(microseconds=1))
    assert not facts.holds_at(NOON + HOUR)
    assert not facts.holds_at(NOON - dt.timedelta(microseconds=1))  # the wall clock went back (DST)
    assert Facts(None, NOON, None).holds_at(NOON + 1000 * HOUR)


def test_a_change_between_ticket_and_put_keeps_the_older_facts_out() -> None:
    cache = following_cache()
    ticket = cache.ticket(1)
    cache.changed([1])  # the projector committed while the query ran
    cache.put(1, "rate", Facts("old", NOON, None), ticket)
    assert cache.get(1, "rate", NOON) is None
    cache.put(1, "rate", Facts("new", NOON, None), cache.ticket(1))
    found = cache.get(1, "rate", NOON)
    assert found is not None and found.value == "new"


def test_a_change_drops_only_its_items() -> None:
    cache = following_cache()
    for item_id in (1, 2):
        cache.put(item_id, "rate", Facts(item_id, NOON, None), cache.ticket(item_id))
    cache.changed([1])
    assert cache.get(1, "rate", NOON) is None and cache.get(2, "rate", NOON) is not None and len(cache) == 1
    cache.changed_everything()
    assert cache.get(2, "rate", NOON) is None and len(cache) == 0


def test_nothing_is_kept_or_served_without_the_feed() -> None:
    cache = ReadCache()
    cache.put(1, "rate", Facts(1, NOON, None), cache.ticket(1))
    assert len(cache) == 0
    cache.start_following()
    ticket = cache.ticket(1)
    cache.stop_following()
    cache.start_following()  # reconnected: a read begun before the loss must not land
    cache.put(1, "rate", Facts(1, NOON, None), ticket)
    assert len(cache) == 0


def test_the_cache_starts_over_when_full() -> None:
    cache = following_cache(max_entries=3)
    for item_id in range(1, 5):
        cache.put(item_id, "rate", Facts(item_id, NOON, None), cache.ticket(item_id))
    assert len(cache) == 1 and cache.get(4, "rate", NOON) is not None


def test_rendered_once_per_facts() -> None:
    calls: list[str] = []

    def render(value: str | None) -> bytes:
        calls.append(str(value))
        return str(value).encode()

    facts = Facts("x", NOON, None)
    assert facts.rendered(render) == facts.rendered(render) == b"x" and calls == ["x"]


def test_earliest_ignores_the_absent() -> None:
    assert earliest(None, NOON + HOUR, NOON) == NOON
    assert earliest(None, None) is None
