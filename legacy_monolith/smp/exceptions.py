"""Business-rule errors and how the API renders them.

Services raise ``ApplicationError`` subclasses (HackSoft styleguide): they
know nothing about HTTP beyond a suggested status code. The DRF exception
handler below turns them into one stable JSON shape::

    {"detail": "Not enough gold: 1g 0s 0c needed, 50s 0c available.",
     "code": "insufficient_funds",
     "extra": {"required_cp": 10000, "balance_cp": 5000}}

Field-level input errors stay DRF's own ``{"field": ["message"]}`` 400s.
"""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """A refused business operation. ``code`` is the stable machine key.

    ``public = False`` on a subclass keeps its code out of the public OpenAPI
    description (the ``/_internal/`` API's refusals)."""

    status_code: int = 409
    code: str = "conflict"
    public: bool = True

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class PermissionDenied(ApplicationError):
    status_code = 403
    code = "permission_denied"


class PlayerBanned(PermissionDenied):
    code = "player_banned"


class NotListingOwner(PermissionDenied):
    code = "not_listing_owner"


class NoPlayerAccount(PermissionDenied):
    code = "no_player_account"


class InsufficientFunds(ApplicationError):
    code = "insufficient_funds"


class InsufficientInventory(ApplicationError):
    code = "insufficient_inventory"


class SelfTrade(ApplicationError):
    code = "self_trade"


class ListingClosed(ApplicationError):
    code = "listing_closed"


class QuantityExceedsRemaining(ApplicationError):
    code = "quantity_exceeds_remaining"


class ItemInactive(ApplicationError):
    code = "item_inactive"


#: Marks a writes_moved refusal for the strangler proxy, which may replay the
#: write to the new owner (nothing was written here): see
#: strangler_proxy/forwarding.py. The value is the service that has the writes.
WRITES_MOVED_HEADER = "X-Strangler-Writes-Moved"


class WritesMoved(ApplicationError):
    """A market write reached the monolith while another service owns the
    context's writes (docs/market-write-side.md)."""

    code = "writes_moved"

    def headers(self) -> dict[str, str]:
        return {WRITES_MOVED_HEADER: str(self.extra.get("owner", ""))}


class WriteOwnerUnknown(ApplicationError):
    """The control database could not be read: refusing is the only way to
    keep one writer at a time."""

    status_code = 503
    code = "write_owner_unknown"
    public = False


class SettlementReversed(ApplicationError):
    """An apply with a key whose settlement was reversed (or tombstoned)."""

    code = "settlement_reversed"
    public = False


class IdempotencyKeyReused(ApplicationError):
    """The same idempotency key with a different request (or operation)."""

    status_code = 422
    code = "idempotency_key_reused"
    public = False


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: ApplicationError -> its JSON shape; the
    rest (validation, auth, 404) is left to DRF's default handler."""
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message, "code": exc.code, "extra": exc.extra}
        headers = exc.headers() if isinstance(exc, WritesMoved) else None
        return Response(body, status=exc.status_code, headers=headers)
    return drf_exception_handler(exc, context)
