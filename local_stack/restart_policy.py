"""When ``strangler up`` restarts a part that died, and when it gives up.

Why a back-off: a part that dies because something it needs is away (the
database restarting, the broker gone) dies again at once if restarted at
once. Restarted every half second, it used up a fixed "5 a minute" in three
seconds of a PostgreSQL restart and took the whole stack down with it. So,
as Kubernetes' CrashLoopBackOff and systemd's ``RestartSec`` do, each restart
within the window waits twice as long as the one before (0.5 s, 1 s, 2 s ...
up to 30 s), and the stack gives up only on a part that died ``limit`` times
within ``window_s`` (10 in 5 minutes: a couple of minutes of trying), which
is a part that cannot start rather than one waiting for a dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Decision(Enum):
    RESTART = "restart"
    WAIT = "wait"
    GIVE_UP = "give up"


@dataclass
class RestartPolicy:
    first_delay_s: float = 0.5
    longest_delay_s: float = 30.0
    limit: int = 10
    window_s: float = 300.0
    _restarts: dict[str, list[float]] = field(default_factory=dict)
    _died_at: dict[str, float] = field(default_factory=dict)

    def decide(self, name: str, now: float) -> Decision:
        """What to do about ``name``, found dead at ``now`` (monotonic seconds)."""
        recent = self._recent(name, now)
        if len(recent) >= self.limit:
            return Decision.GIVE_UP
        died_at = self._died_at.setdefault(name, now)
        return Decision.RESTART if now - died_at >= self.delay(len(recent)) else Decision.WAIT

    def restarted(self, name: str, now: float) -> None:
        """``name`` was started again at ``now``."""
        self._restarts[name] = [*self._recent(name, now), now]
        self._died_at.pop(name, None)

    def delay(self, recent_restarts: int) -> float:
        """The wait before the next restart, after ``recent_restarts`` in the window."""
        if recent_restarts == 0:
            return 0.0
        return float(min(self.longest_delay_s, self.first_delay_s * 2 ** (recent_restarts - 1)))

    def _recent(self, name: str, now: float) -> list[float]:
        return [at for at in self._restarts.get(name, []) if now - at < self.window_s]
