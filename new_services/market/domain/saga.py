"""Sagas with persisted state: each write is a few local transactions and
calls to the monolith, and the state after each step is stored, so a process
killed between two steps resumes from the last one (the monolith's internal
API is idempotent by key, ``<saga id>:<step>``, so a repeated call is safe).

buy:    reserved -> settled -> done
            \\-> compensating -> compensated   (settle refused, or its outcome unknown)
list:   escrowing -> done | refused            (forward only: the take is retried by key)
cancel: cancelled -> done                      (the listing is cancelled first; the return is retried)

``STEPS`` are also the names ``STRANGLER_MARKET_CRASH_AFTER`` accepts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

BUY, LIST, CANCEL = "buy", "list", "cancel"
RESERVED, SETTLED, COMPENSATING, COMPENSATED = "reserved", "settled", "compensating", "compensated"
ESCROWING, REFUSED, CANCELLED, DONE = "escrowing", "refused", "cancelled", "done"
TERMINAL = frozenset({DONE, COMPENSATED, REFUSED})
STEPS = (RESERVED, SETTLED, COMPENSATING, COMPENSATED, ESCROWING, REFUSED, CANCELLED, DONE)


@dataclass(frozen=True)
class Saga:
    saga_id: str
    kind: str
    state: str
    data: dict[str, Any] = field(default_factory=dict)  # what the steps need (ids, quantities, prices)
    result: dict[str, Any] | None = None  # the answer once terminal: {"status", "body"}

    @classmethod
    def start(cls, kind: str, state: str, **data: Any) -> Saga:
        return cls(str(uuid.uuid4()), kind, state, dict(data))

    def key(self, step: str) -> str:
        return f"{self.saga_id}:{step}"

    def to(self, state: str, *, result: dict[str, Any] | None = None, **data: Any) -> Saga:
        return replace(self, state=state, data={**self.data, **data}, result=result or self.result)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL
