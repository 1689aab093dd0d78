"""Write back-pressure shared by both sides of the proxy.

asyncio calls ``pause_writing``/``resume_writing`` when a transport's
buffer crosses its high/low water marks; ``await drain()`` then blocks a
streaming copy until the peer has read, so a slow client or upstream never
makes the proxy buffer a whole body. A lost connection releases the waiter.
"""

from __future__ import annotations

import asyncio


class WriteFlowControl:
    """Mixin for an ``asyncio.Protocol`` with ``loop`` and ``closed``."""

    loop: asyncio.AbstractEventLoop
    closed: bool
    _write_paused: bool = False
    _drain: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._release_drain()

    def _release_drain(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    async def drain(self) -> None:
        if self._write_paused and not self.closed:
            self._drain = self.loop.create_future()
            await self._drain
