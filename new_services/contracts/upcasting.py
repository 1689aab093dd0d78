"""Upcasting: reading events stored in an older version as the newest one.

Topics keep every event ever published, so when ``SaleRecorded.v2`` comes,
``SaleRecorded.v1`` payloads stay on ``smp.market.v1`` for good. Instead of
each consumer handling every version, the contract ships an
:class:`Upcaster` per step (v1 -> v2, v2 -> v3, ...): a function from the
old JSON payload to the new one. The codec chains them, so a consumer built
against v3 reads a stored v1 event as a v3 instance, and its projection
lists only the v3 type.

To add a version: write the new class beside the old one
(``class SaleRecordedV2(_SaleEvent, name="SaleRecorded", version=2)``),
register both in ``EVENT_TYPES``, and add the step to :data:`UPCASTERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from new_services.contracts.events import DomainEvent

__all__ = ["UPCASTERS", "UpcastPlan", "Upcaster", "plan_reads"]

Payload = dict[str, Any]


@dataclass(frozen=True)
class Upcaster:
    """One step: a stored ``source`` payload -> a payload of ``target``, the
    next version of the same event. ``convert`` may assume the payload fits
    ``source``; the codec reports a failure as a malformed event."""

    source: type[DomainEvent]
    target: type[DomainEvent]
    convert: Callable[[Payload], Payload]

    def __post_init__(self) -> None:
        s, t = self.source, self.target
        if (s.context, s.event_name) != (t.context, t.event_name) or t.version != s.version + 1:
            raise ValueError(
                f"an upcaster goes one version up the same event: {s.cloudevent_type()} -> {t.cloudevent_type()}"
            )


@dataclass(frozen=True)
class UpcastPlan:
    """How a stored type is read: the steps to apply, then the class to build."""

    steps: tuple[Callable[[Payload], Payload], ...]
    target: type[DomainEvent]


def plan_reads(known: Mapping[str, type[DomainEvent]], upcasters: Iterable[Upcaster]) -> dict[str, UpcastPlan]:
    """Stored CloudEvents type -> its plan, for every class in ``known``
    (CloudEvents type -> class). A class with an upcaster is read as the last
    version its chain reaches; the others as themselves."""
    by_source: dict[type[DomainEvent], Upcaster] = {}
    for upcaster in upcasters:
        for cls in (upcaster.source, upcaster.target):
            if known.get(cls.cloudevent_type()) is not cls:
                raise ValueError(f"upcaster for {cls.cloudevent_type()}, which the codec does not know")
        if upcaster.source in by_source:
            raise ValueError(f"two upcasters from {upcaster.source.cloudevent_type()}")
        by_source[upcaster.source] = upcaster
    plans = {}
    for event_type, cls in known.items():
        steps, current = [], cls
        while current in by_source:
            steps.append(by_source[current].convert)
            current = by_source[current].target
        plans[event_type] = UpcastPlan(tuple(steps), current)
    return plans


#: The contract's upcasters, oldest step first. Empty while every event is at v1.
UPCASTERS: tuple[Upcaster, ...] = ()
