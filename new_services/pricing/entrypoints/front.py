"""A lean ASGI front for the two hot reads; everything else goes to the
FastAPI app behind it.

Why: pricing has to answer ten times faster than the monolith through the
proxy, and FastAPI's routing, dependency and response machinery cost more
per request than a cached answer itself (figures in docs/measured.md). The
front matches the same two paths FastAPI declares (and
documents in OpenAPI), parses the query string and headers as Starlette
does, and calls the same ``item_answers`` functions, so both roads give the
same answer.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from new_services.pricing.entrypoints import item_answers
from new_services.pricing.service_layer.reads import PricingReads

Scope = dict[str, Any]
ASGIApp = Any

#: Starlette's ``{item_id}`` path parameter matches ``[^/]+``.
ITEM_READ = re.compile(r"/api/items/([^/]+)/(rate|history)/")
READERS = {"rate": item_answers.rate, "history": item_answers.history}


def query_params(scope: Scope) -> dict[str, str]:
    """As ``starlette.requests.Request.query_params.get`` sees them (last value wins)."""
    return dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a header, as Starlette's ``Headers.get`` gives it."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class ItemReadsFront:
    def __init__(self, app: ASGIApp, reads: PricingReads) -> None:
        self.app = app
        self.reads = reads

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            match = ITEM_READ.fullmatch(scope["path"])
            if match is not None:
                segment, which = match.groups()
                answer = await READERS[which](self.reads, segment, header(scope, b"accept"), query_params(scope))
                await send(
                    {
                        "type": "http.response.start",
                        "status": answer.status,
                        "headers": [
                            (b"content-type", answer.content_type.encode()),
                            (b"content-length", str(len(answer.body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": answer.body})
                return
        await self.app(scope, receive, send)
