"""The decision whether stored offsets still belong to the topic on the
broker (pure: no broker, no database)."""

from __future__ import annotations

import uuid

from new_services.platform.topic_identity import NO_TOPIC_ID, check_topics, known_id

OLD, NEW = "01a23475-8f64-7f01-9305-fc495a16f663", "01a23475-9236-7cc0-90a9-cafd0d1ff6ba"


def test_the_same_id_is_clean() -> None:
    assert check_topics({"t": OLD}, {"t": OLD}).clean


def test_a_new_id_loses_the_topic_and_stores_the_new_id() -> None:
    found = check_topics({"t": OLD, "u": OLD}, {"t": NEW, "u": OLD})
    assert set(found.lost) == {"t"}
    assert OLD in found.lost["t"] and NEW in found.lost["t"]
    assert found.store == {"t": NEW}


def test_a_longer_recreated_topic_is_lost_by_its_id_alone() -> None:
    """The case the offsets cannot show: the new topic is past the stored offset."""
    found = check_topics({"t": OLD}, {"t": NEW}, stored_offsets={("t", 0): 5}, ends={("t", 0): 50})
    assert set(found.lost) == {"t"}


def test_a_stored_offset_beyond_the_end_is_lost_without_ids() -> None:
    found = check_topics({}, {"t": None}, stored_offsets={("t", 0): 5, ("t", 1): 9}, ends={("t", 0): 5, ("t", 1): 3})
    assert "beyond its end 3" in found.lost["t"]
    assert found.store == {}


def test_unknown_ends_and_an_offset_at_the_end_decide_nothing() -> None:
    assert check_topics({}, {"t": None}, stored_offsets={("t", 0): 5, ("t", 1): 7}, ends={("t", 0): 5}).clean


def test_an_unknown_current_id_decides_nothing() -> None:
    """The topic is missing right now (the broker is back, nobody re-created
    it yet): wait for its new id rather than reset twice."""
    assert check_topics({"t": OLD}, {"t": None}).clean


def test_first_sight_is_stored_only_when_adopting() -> None:
    assert check_topics({}, {"t": NEW}).clean
    found = check_topics({}, {"t": NEW}, adopt=True)
    assert found.lost == {} and found.store == {"t": NEW}


def test_zero_and_missing_ids_are_unknown() -> None:
    assert known_id(None) is None
    assert known_id(NO_TOPIC_ID) is None
    assert known_id(uuid.UUID(NO_TOPIC_ID)) is None
    assert known_id(uuid.UUID(NEW)) == NEW
