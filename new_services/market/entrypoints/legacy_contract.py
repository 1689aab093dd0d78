"""The monolith's HTTP contract for the market's five endpoints, as a client
sees it: DRF's JSON rendering (compact, UTF-8, U+2028/9 escaped), money as
``{"copper", "display"}``, naive wall-clock ``isoformat()`` times, DRF's
parsers (JSON, form; 415 for the rest), its serializers' validation messages
and shapes, ``LimitOffsetPagination`` (50 a page, bad values ignored) and
its ``next``/``previous`` links, its content negotiation (``?format=``,
``Accept``), and the ``{detail, code, extra}`` refusals. Nothing else.

Reproduced from ``legacy_monolith/market/apis.py``, ``smp/api.py``,
``smp/exceptions.py`` and DRF 3.16's fields/pagination/parsers (read, not
imported: the service does not depend on Django).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from new_services.market.domain.model import LISTING_STATUS_LABELS, Listing, Sale
from new_services.platform.drf_wire import COPPER_PER_GOLD as COPPER_PER_GOLD
from new_services.platform.drf_wire import COPPER_PER_SILVER as COPPER_PER_SILVER
from new_services.platform.drf_wire import DJANGO_NOT_FOUND_HTML as DJANGO_NOT_FOUND_HTML
from new_services.platform.drf_wire import MAX_ID as MAX_ID
from new_services.platform.drf_wire import format_copper as format_copper
from new_services.platform.drf_wire import money as money
from new_services.platform.drf_wire import path_id as path_id
from new_services.platform.drf_wire import timestamp as timestamp

MAX_PRICE_COPPER = 10**12
MAX_QUANTITY = 1_000_000
PAGE_SIZE = 50

NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}
INVALID_TOKEN = {"detail": "Invalid token."}
#: DRF's TokenAuthentication.authenticate_header: sent with every 401.
WWW_AUTHENTICATE = "Token"

_DRF_DECIMAL = re.compile(r"\.0*\s*$")
_MAX_STRING_LENGTH = 1000
_EMPTY: Any = object()  # DRF's ``empty``: the field was not sent


def render(body: Any) -> bytes:
    """DRF's JSONRenderer: compact separators, non-ASCII as is, U+2028/U+2029 escaped."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def listing_json(listing: Listing) -> dict[str, Any]:
    return {
        "id": listing.listing_id,
        "item_id": listing.item_id,
        "seller_id": listing.seller_id,
        "quantity": listing.quantity,
        "quantity_remaining": listing.quantity_remaining,
        "unit_price": money(listing.unit_price_copper),
        "status": listing.status,
        "status_label": LISTING_STATUS_LABELS[listing.status],
        "created_at": timestamp(listing.created_at),
        "updated_at": timestamp(listing.updated_at),
    }


def sale_json(sale: Sale) -> dict[str, Any]:
    return {
        "id": sale.sale_id,
        "listing_id": sale.listing_id,
        "item_id": sale.item_id,
        "buyer_id": sale.buyer_id,
        "seller_id": sale.seller_id,
        "quantity": sale.quantity,
        "unit_price": money(sale.unit_price_copper),
        "total": money(sale.total_copper),
        "fee": money(sale.fee_copper),
        "sold_at": timestamp(sale.sold_at),
    }


# -- content negotiation ------------------------------------------------------


def acceptable(accept: str | None, format_param: str | None) -> tuple[int, dict[str, str]] | None:
    """``None`` when a JSON answer may be given, else DRF's refusal
    (404 for an unknown ``?format=``, 406 for an ``Accept`` JSON does not satisfy)."""
    if format_param is not None and format_param != "json":
        return 404, {"detail": "Not found."}
    if accept is None:
        return None
    for media in accept.split(","):
        if media.split(";", 1)[0].strip().lower() in ("*/*", "application/*", "application/json"):
            return None
    return 406, {"detail": "Could not satisfy the request Accept header."}


# -- validation (DRF fields) --------------------------------------------------


class ValidationFailed(Exception):
    """DRF's 400: ``{"field": ["message"]}`` (or ``{"detail": ...}`` for a parse error)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.body = body


class UnsupportedMediaType(Exception):
    def __init__(self, media_type: str) -> None:
        super().__init__(media_type)
        self.body = {"detail": f'Unsupported media type "{media_type}" in request.'}


def _integer(value: Any, *, minimum: int | None, maximum: int | None) -> int:
    """DRF ``IntegerField.to_internal_value`` and its min/max validators."""
    if isinstance(value, str) and len(value) > _MAX_STRING_LENGTH:
        raise ValueError("String value too large.")
    try:
        number = int(_DRF_DECIMAL.sub("", str(value)))
    except (ValueError, TypeError):
        raise ValueError("A valid integer is required.") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"Ensure this value is greater than or equal to {minimum}.")
    if maximum is not None and number > maximum:
        raise ValueError(f"Ensure this value is less than or equal to {maximum}.")
    return number


def query_filters(
    params: Mapping[str, str], integers: tuple[str, ...], choices: dict[str, list[str]]
) -> dict[str, Any]:
    """A FilterSerializer over the query string: fields optional, a blank value is absent."""
    filters: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name in (*integers, *choices):
        value = params.get(name)
        if value is None or value == "":
            continue
        try:
            if name in choices:
                if value not in choices[name]:
                    raise ValueError(f'"{value}" is not a valid choice.')
                filters[name] = value
            else:
                filters[name] = _integer(value, minimum=1, maximum=None)
        except ValueError as exc:
            errors[name] = [str(exc)]
    if errors:
        raise ValidationFailed(errors)
    return filters


def parse_body(content_type: str, body: bytes) -> tuple[Any, bool]:
    """DRF's parsers (JSON, form) -> (data, is_html_form). An empty body is ``{}``."""
    if not body:
        return {}, content_type.split(";")[0].strip().lower() in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        )
    main, _, rest = content_type.partition(";")
    kind = main.strip().lower()
    charset = "utf-8"
    for param in rest.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    major, _, minor = kind.partition("/")
    if _matches(major, minor, "application", "json"):
        try:
            return json.loads(body.decode(charset), parse_constant=_strict_constant), False
        except (ValueError, LookupError) as exc:
            raise ValidationFailed({"detail": f"JSON parse error - {exc}"}) from None
    if _matches(major, minor, "application", "x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode(charset, "replace"), keep_blank_values=True)), True
    raise UnsupportedMediaType(content_type)


def _matches(major: str, minor: str, want_major: str, want_minor: str) -> bool:
    return (minor in ("*", want_minor)) and (major in ("*", want_major))


def _strict_constant(constant: str) -> Any:
    raise ValueError("Out of range float values are not JSON compliant: " + repr(constant))


def _field_value(data: Mapping[str, Any], name: str) -> Any:
    if name not in data:
        return _EMPTY
    return data[name]


def _primary_key(value: Any) -> int:
    """DRF ``PrimaryKeyRelatedField`` over a Django integer pk: the pk Django
    would look up (existence is checked by the caller)."""
    if isinstance(value, bool):
        raise ValueError("Incorrect type. Expected pk value, received bool.")
    try:
        if not isinstance(value, (int, float, str)):
            raise TypeError
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"Incorrect type. Expected pk value, received {type(value).__name__}.") from None


class InputField:
    def __init__(self, name: str, *, related: bool = False, minimum: int = 1, maximum: int = MAX_QUANTITY) -> None:
        self.name, self.related, self.minimum, self.maximum = name, related, minimum, maximum


LISTING_INPUT = (
    InputField("item", related=True),
    InputField("quantity", maximum=MAX_QUANTITY),
    InputField("unit_price_copper", maximum=MAX_PRICE_COPPER),
)
SALE_INPUT = (InputField("listing", related=True), InputField("quantity", maximum=MAX_QUANTITY))


async def validate_input(
    data: Any, fields: tuple[InputField, ...], exists: Callable[[str, int], Awaitable[bool]]
) -> dict[str, int]:
    """An InputSerializer's ``is_valid(raise_exception=True)``: the values, or
    :class:`ValidationFailed` with every field's first error, in field order."""
    if data is None:
        raise ValidationFailed({"non_field_errors": ["No data provided"]})
    if not isinstance(data, Mapping):
        raise ValidationFailed(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(data).__name__}."]}
        )
    values: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for field in fields:
        value = _field_value(data, field.name)
        if field.related and value == "":
            value = None
        try:
            if value is _EMPTY:
                raise ValueError("This field is required.")
            if value is None:
                raise ValueError("This field may not be null.")
            if field.related:
                pk = _primary_key(value)
                if not (0 <= pk <= MAX_ID) or not await exists(field.name, pk):
                    raise ValueError(f'Invalid pk "{value}" - object does not exist.')
                values[field.name] = pk
            else:
                values[field.name] = _integer(value, minimum=field.minimum, maximum=field.maximum)
        except ValueError as exc:
            errors[field.name] = [str(exc)]
    if errors:
        raise ValidationFailed(errors)
    return values


# -- pagination (LimitOffsetPagination) ----------------------------------------


def _positive_int(raw: str | None, *, strict: bool) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    if value < 0 or (value == 0 and strict):
        return None
    return value


def page_window(params: Mapping[str, str]) -> tuple[int, int]:
    """(limit, offset) as DRF reads them: a bad value is ignored, not refused."""
    limit = _positive_int(params.get("limit"), strict=True)
    offset = _positive_int(params.get("offset"), strict=False)
    return (PAGE_SIZE if limit is None else limit), (0 if offset is None else offset)


def _replace_query_param(url: str, key: str, value: Any) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict[key] = [str(value)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query_dict.items()), doseq=True), fragment))


def _remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict.pop(key, None)
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query_dict.items()), doseq=True), fragment))


def paginated(url: str, count: int, limit: int, offset: int, results: list[Any]) -> dict[str, Any]:
    """``{"count", "next", "previous", "results"}``; ``url`` is the request's absolute URI."""
    next_link = None
    if offset + limit < count:
        next_link = _replace_query_param(_replace_query_param(url, "limit", limit), "offset", offset + limit)
    previous = None
    if offset > 0:
        with_limit = _replace_query_param(url, "limit", limit)
        previous = (
            _remove_query_param(with_limit, "offset")
            if offset - limit <= 0
            else _replace_query_param(with_limit, "offset", offset - limit)
        )
    return {"count": count, "next": next_link, "previous": previous, "results": results}
