"""Data parity: does a service's store hold what the legacy tables say?

Both sides are reduced to the same per-aggregate summary (per item for
pricing, per listing for the market): the aggregate root's fields, the
number of child rows (sales) and an order-independent checksum of them (the
sum of a 60-bit MD5 prefix of each child's fields). Then the two streams,
both in aggregate-id order, are merged and every aggregate that differs is
reported (the first ``max_listed`` of them in full, all of them counted).

How each side is read, and why:

- **Legacy** rows go through the ACL's own translators
  (``acl.translators.translate``), exactly as a snapshot row would: the
  mapping from cryptic columns, copper, char codes and naive Paris time to
  domain values exists once. Rows are streamed with a server-side cursor,
  ordered by the aggregate's column (``acl.translators.aggregates``), and
  folded one aggregate at a time. Memory is one batch; time is linear
  (1M sales: about a minute of CPU, dominated by translation; 74 MB peak).
- **Service** stores are summarised *in SQL* (``GROUP BY`` with the same
  checksum computed by PostgreSQL) and streamed in id order with a
  server-side cursor; only one row per aggregate crosses the wire.

A check has a deadline (``deadline_s``): past it, it stops with
``ParityTimeout`` rather than run on. Times are compared on the market's
wall clock (what both stores hold; the ACL's ``LEGACY_ZONE``): a reading in
the repeated autumn hour is taken as its first occurrence on the legacy side.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from acl.envelope import Change, SourcePosition
from acl.translators import translate
from acl.translators._common import LEGACY_ZONE
from acl.translators.aggregates import aggregate_column
from new_services.contracts.events import (
    DomainEvent,
    ItemCatalogued,
    ListingAmended,
    ListingCancelled,
    ListingExpired,
    ListingFilled,
    ListingOpened,
    SaleRecorded,
)
from new_services.contracts.values import ListingStatus

_EPOCH = datetime(1970, 1, 1)
#: PostgreSQL's ``timestamp`` and ``timestamptz`` type OIDs.
_TIMESTAMP_OIDS = frozenset({1114, 1184})
_US = timedelta(microseconds=1)
BATCH = 5000
Root = tuple[Any, ...]


class ParityError(RuntimeError):
    """The check could not run (a side unreadable, a translator refusing a row)."""


class ParityTimeout(ParityError):
    """The check ran past its deadline."""


def row_digest(fields: Sequence[Any]) -> int:
    """60 bits of MD5 over ``a|b|c``: what :func:`sql_digest` computes in SQL."""
    text = "|".join(str(f) for f in fields)
    return int(hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:15], 16)


def sql_digest(*columns: str) -> str:
    """The SQL expression of :func:`row_digest` over ``columns`` (trusted
    names, written in this module)."""
    return f"('x' || substr(md5(concat_ws('|', {', '.join(columns)})), 1, 15))::bit(60)::bigint"


def wall_us(moment: datetime) -> int:
    """An aware time as microseconds since the epoch of the market's wall
    clock: how both stores keep time (naive, Europe/Paris)."""
    utc_us = (moment - _UTC_EPOCH) // _US
    return utc_us + _offset_us(utc_us // _HOUR_US)


_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR_US = 3_600_000_000


@functools.lru_cache(maxsize=8192)
def _offset_us(utc_hour: int) -> int:
    """The wall clock's UTC offset during one UTC hour (zone changes fall on
    whole UTC hours): one zoneinfo lookup per hour instead of per row."""
    moment = _UTC_EPOCH + timedelta(hours=utc_hour)
    return int(moment.astimezone(LEGACY_ZONE).utcoffset() // _US)  # type: ignore[operator]


def _sql_wall_us(column: str) -> str:
    return f"(extract(epoch from {column}) * 1000000)::bigint"


@dataclass(frozen=True)
class Side:
    """One aggregate on one side: root fields (None: no root row), children and their checksum."""

    root: Root | None
    children: int
    digest: int

    def to_json(self, fields: Sequence[str]) -> dict[str, Any]:
        root = dict(zip(fields, self.root, strict=True)) if self.root is not None else None
        return {"root": root, "children": self.children, "checksum": f"{self.digest:x}"}


@dataclass(frozen=True)
class ContextParity:
    """How one context is reconciled: which legacy tables, how to fold their
    events, how the service's store is summarised."""

    context: str
    aggregate: str  # item, listing
    child: str  # what the children are (sales)
    root_table: str
    child_table: str
    root_fields: tuple[str, ...]
    fold_root: Callable[[list[DomainEvent]], Root | None]
    child_fields: Callable[[DomainEvent], tuple[int, tuple[Any, ...]] | None]
    service_sql: str  # key, root fields..., children, digest; ordered by key
    service_root: Callable[[tuple[Any, ...]], Root | None]
    service_counts_sql: str  # roots, children

    @property
    def legacy_tables(self) -> tuple[str, str]:
        return self.root_table, self.child_table


@dataclass
class ParityReport:
    context: str
    aggregate: str
    legacy: dict[str, int]
    service: dict[str, int]
    compared: int = 0
    differing: int = 0
    only_legacy: int = 0
    only_service: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def in_parity(self) -> bool:
        return self.differing == 0 and self.legacy == self.service

    def to_json(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "aggregate": self.aggregate,
            "in_parity": self.in_parity,
            "counts": {"legacy": self.legacy, "service": self.service},
            "compared": self.compared,
            "differing": self.differing,
            "only_legacy": self.only_legacy,
            "only_service": self.only_service,
            "differences": self.differences,
            "elapsed_s": round(self.elapsed_s, 3),
        }


# -- the two contexts ----------------------------------------------------------------------------


def _item_root(events: list[DomainEvent]) -> Root | None:
    for e in events:
        if isinstance(e, ItemCatalogued):
            return (e.sku,)
    return None


def _pricing_sale(e: DomainEvent) -> tuple[int, tuple[Any, ...]] | None:
    if not isinstance(e, SaleRecorded):
        return None
    fields = (e.sale_id, e.quantity, e.unit_price.to_copper(), e.total.to_copper(), wall_us(e.sold_at))
    return e.item_id, fields


_CLOSED = {ListingFilled: ListingStatus.FILLED, ListingCancelled: ListingStatus.CANCELLED}


def _listing_root(events: list[DomainEvent]) -> Root | None:
    opened = next((e for e in events if isinstance(e, ListingOpened)), None)
    if opened is None:
        return None
    status, remaining, price = ListingStatus.OPEN, opened.quantity_remaining, opened.unit_price
    for e in events:
        if isinstance(e, ListingAmended):
            status, remaining, price = e.status, e.quantity_remaining, e.unit_price
        elif isinstance(e, ListingFilled):
            status = ListingStatus.FILLED
        elif isinstance(e, ListingCancelled):
            status = ListingStatus.CANCELLED
        elif isinstance(e, ListingExpired):
            status = ListingStatus.EXPIRED
    return (opened.seller_id, opened.item_id, opened.quantity, remaining, price.to_copper(), status.value)


def _market_sale(e: DomainEvent) -> tuple[int, tuple[Any, ...]] | None:
    if not isinstance(e, SaleRecorded):
        return None
    fields = (
        e.sale_id,
        e.buyer_id,
        e.seller_id,
        e.item_id,
        e.quantity,
        e.unit_price.to_copper(),
        e.total.to_copper(),
        e.fee.to_copper(),
        wall_us(e.sold_at),
    )
    return e.listing_id, fields


def _market_service_root(row: tuple[Any, ...]) -> Root | None:
    """The market stores listing status as the monolith's code; its own
    projection's mapping (``STATUS_CODES``) reads it back."""
    from new_services.market.service_layer.projection import STATUS_CODES

    if row[0] is None:
        return None
    status = {code: s for s, code in STATUS_CODES.items()}.get(row[5])
    return (*row[:5], status.value if status else f"unknown code {row[5]!r}")


PRICING = ContextParity(
    context="pricing",
    aggregate="item",
    child="sales",
    root_table="smp_itm",
    child_table="smp_sale",
    root_fields=("sku",),
    fold_root=_item_root,
    child_fields=_pricing_sale,
    service_sql=(
        "SELECT coalesce(i.item_id, s.item_id), i.sku, coalesce(s.n, 0), coalesce(s.digest, 0)"
        " FROM items i FULL JOIN (SELECT item_id, count(*) AS n, sum("
        + sql_digest("sale_id", "quantity", "unit_price", "total", _sql_wall_us("sold_at"))
        + ") AS digest FROM sales GROUP BY item_id) s ON s.item_id = i.item_id ORDER BY 1"
    ),
    service_root=lambda row: None if row[0] is None else (row[0],),
    service_counts_sql="SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM sales)",
)

MARKET = ContextParity(
    context="market",
    aggregate="listing",
    child="sales",
    root_table="smp_lst",
    child_table="smp_sale",
    root_fields=("seller_id", "item_id", "quantity", "quantity_remaining", "unit_price", "status"),
    fold_root=_listing_root,
    child_fields=_market_sale,
    service_sql=(
        "SELECT coalesce(l.listing_id, s.listing_id), l.seller_id, l.item_id, l.quantity, l.quantity_remaining,"
        " l.unit_price, l.status, coalesce(s.n, 0), coalesce(s.digest, 0)"
        " FROM listings l FULL JOIN (SELECT listing_id, count(*) AS n, sum("
        + sql_digest(
            "sale_id",
            "buyer_id",
            "seller_id",
            "item_id",
            "quantity",
            "unit_price",
            "total",
            "fee",
            _sql_wall_us("sold_at"),
        )
        + ") AS digest FROM sales GROUP BY listing_id) s ON s.listing_id = l.listing_id ORDER BY 1"
    ),
    service_root=_market_service_root,
    service_counts_sql="SELECT (SELECT count(*) FROM listings), (SELECT count(*) FROM sales)",
)

CONTEXTS: dict[str, ContextParity] = {"pricing": PRICING, "market": MARKET}


def context_parity(name: str) -> ContextParity:
    try:
        return CONTEXTS[name]
    except KeyError:
        raise LookupError(f"no parity check for context {name!r} (known: {', '.join(CONTEXTS)})") from None


# -- reading -------------------------------------------------------------------------------------


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise ParityTimeout(f"the parity check ran past its deadline of {self.seconds:.0f} s")


def _debezium_value(value: Any) -> Any:
    """A column value as Debezium's JSON converter sends it (what the
    translators read): ``timestamp without time zone`` as microseconds since
    the epoch of the wall-clock reading; the rest as it is."""
    if isinstance(value, datetime):
        return (value.replace(tzinfo=None) - _EPOCH) // _US
    return value


def _stream(
    conn: psycopg.Connection[Any], query: sql.Composed | sql.SQL, name: str, deadline: _Deadline
) -> Iterator[tuple[list[tuple[str, int]], Any]]:
    """Rows of ``query`` through a server-side cursor, ``BATCH`` at a time,
    each with the columns' (name, type oid): read once, psycopg builds the
    description anew on every access."""
    with conn.cursor(name=name) as cur:
        cur.itersize = BATCH
        cur.execute(query)
        columns: list[tuple[str, int]] = []
        for n, row in enumerate(cur):
            if n % BATCH == 0:
                deadline.check()
            if not columns:
                columns = [(d.name, d.type_code) for d in cur.description or ()]
            yield columns, row


def _legacy_events(
    conn: psycopg.Connection[Any], table: str, aggregate: str, deadline: _Deadline
) -> Iterator[tuple[int, list[DomainEvent]]]:
    """(aggregate id, the row's events) for every row of ``table``, in aggregate order."""
    column = aggregate_column(table, aggregate)
    query = sql.SQL("SELECT * FROM {} ORDER BY {}, {}").format(
        sql.Identifier(table), sql.Identifier(column), sql.Identifier(aggregate_column(table, table_key(table)))
    )
    now_ms = int(time.time() * 1000)
    names: list[str] = []
    stamps: list[int] = []
    for columns, values in _stream(conn, query, f"parity_{table}", deadline):
        if not names:
            names = [column_name for column_name, _ in columns]
            stamps = [i for i, (_, oid) in enumerate(columns) if oid in _TIMESTAMP_OIDS]
        row = dict(zip(names, values, strict=True))
        for i in stamps:  # only timestamps need converting: one or two columns of a row
            row[names[i]] = _debezium_value(values[i])
        source = SourcePosition(table, "public", None, None, now_ms, True)
        change = Change("r", {"id": row.get("id")}, None, row, source, now_ms)
        try:
            events = translate(change)
        except ValueError as exc:
            raise ParityError(f"{table} row {row.get('id')}: the ACL cannot translate it: {exc}") from exc
        yield int(row[column]), events


def table_key(table: str) -> str:
    """The aggregate a table's own id is (its primary key), for a stable order."""
    return {"smp_itm": "item", "smp_lst": "listing", "smp_sale": "sale"}[table]


def _child(spec: ContextParity, key: int, events: list[DomainEvent]) -> int | None:
    for e in events:
        got = spec.child_fields(e)
        if got is not None:
            if got[0] != key:
                raise ParityError(
                    f"{spec.child_table}: the ACL's aggregate key map says {spec.aggregate} {key}, "
                    f"its translator says {got[0]}: fix acl/translators/aggregates.py"
                )
            return row_digest(got[1])
    return None


def _service_sides(
    spec: ContextParity, conn: psycopg.Connection[Any], deadline: _Deadline
) -> Iterator[tuple[int, Side]]:
    for _columns, row in _stream(conn, sql.SQL(spec.service_sql), "parity_service", deadline):
        yield int(row[0]), Side(spec.service_root(tuple(row[1:-2])), int(row[-2]), int(row[-1]))


def _legacy_counts(spec: ContextParity, conn: psycopg.Connection[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label, table in ((spec.aggregate + "s", spec.root_table), (spec.child, spec.child_table)):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        counts[label] = int(row[0]) if row else 0
    return counts


def check_parity(
    spec: ContextParity, legacy_dsn: str, service_dsn: str, *, max_listed: int = 50, deadline_s: float = 600.0
) -> ParityReport:
    """Reconcile ``spec``'s legacy tables with its service's store (see module doc)."""
    started = time.monotonic()
    deadline = _Deadline(deadline_s)
    try:
        with (
            psycopg.connect(legacy_dsn, connect_timeout=5) as legacy,
            psycopg.connect(legacy_dsn, connect_timeout=5) as legacy_children,
            psycopg.connect(service_dsn, connect_timeout=5) as service,
        ):
            for conn in (legacy, legacy_children, service):
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # Both legacy streams read one snapshot: a sale and its listing's
            # update committed together are seen together or not at all.
            exported = legacy.execute("SELECT pg_export_snapshot()").fetchone()
            legacy_children.execute(
                sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(exported[0] if exported else ""))
            )
            row = service.execute(spec.service_counts_sql).fetchone()
            report = ParityReport(
                spec.context,
                spec.aggregate,
                legacy=_legacy_counts(spec, legacy),
                service={spec.aggregate + "s": int(row[0]) if row else 0, spec.child: int(row[1]) if row else 0},
            )
            _compare(
                spec,
                report,
                _legacy_sides(spec, legacy, legacy_children, deadline),
                _service_sides(spec, service, deadline),
                max_listed,
            )
    except psycopg.Error as exc:
        raise ParityError(
            f"cannot read the {spec.context} stores: {str(exc).splitlines()[0] if str(exc) else exc}"
        ) from exc
    report.elapsed_s = time.monotonic() - started
    return report


def _legacy_sides(
    spec: ContextParity,
    roots_conn: psycopg.Connection[Any],
    children_conn: psycopg.Connection[Any],
    deadline: _Deadline,
) -> Iterator[tuple[int, Side]]:
    """:func:`_legacy_sides` with one connection per stream: two named
    cursors are read interleaved, which one connection cannot do while the
    other's rows are pending."""
    roots: Iterator[tuple[int, int, Root | None, int | None]] = (
        (key, 0, spec.fold_root(events), None)
        for key, events in _legacy_events(roots_conn, spec.root_table, spec.aggregate, deadline)
    )
    children: Iterator[tuple[int, int, Root | None, int | None]] = (
        (key, 1, None, _child(spec, key, events))
        for key, events in _legacy_events(children_conn, spec.child_table, spec.aggregate, deadline)
    )
    merged = heapq.merge(roots, children, key=lambda t: (t[0], t[1]))
    for key, group in itertools.groupby(merged, key=lambda t: t[0]):
        root: Root | None = None
        count = digest = 0
        for _, kind, folded, child in group:
            if kind == 0:
                root = folded
            elif child is not None:
                count += 1
                digest += child
        yield key, Side(root, count, digest)


def _compare(
    spec: ContextParity,
    report: ParityReport,
    legacy: Iterator[tuple[int, Side]],
    service: Iterator[tuple[int, Side]],
    max_listed: int,
) -> None:
    tagged = heapq.merge(((k, 0, s) for k, s in legacy), ((k, 1, s) for k, s in service), key=lambda t: (t[0], t[1]))
    for key, group in itertools.groupby(tagged, key=lambda t: t[0]):
        sides: dict[int, Side] = {kind: side for _, kind, side in group}
        report.compared += 1
        theirs, ours = sides.get(0), sides.get(1)
        if theirs is not None and theirs == ours:
            continue
        report.differing += 1
        if theirs is None or (theirs.root is None and theirs.children == 0):
            report.only_service += 1
        elif ours is None or (ours.root is None and ours.children == 0):
            report.only_legacy += 1
        if len(report.differences) < max_listed:
            report.differences.append(_difference(spec, key, theirs, ours))


def _difference(spec: ContextParity, key: int, legacy: Side | None, service: Side | None) -> dict[str, Any]:
    fields: list[str] = []
    a = legacy or Side(None, 0, 0)
    b = service or Side(None, 0, 0)
    if a.root is None or b.root is None:
        fields += [] if a.root == b.root else ["(root row)"]
    else:
        fields += [name for name, x, y in zip(spec.root_fields, a.root, b.root, strict=True) if x != y]
    if a.children != b.children:
        fields.append(f"{spec.child} count")
    elif a.digest != b.digest:
        fields.append(f"{spec.child} checksum")
    return {
        spec.aggregate: key,
        "differs_in": fields,
        "legacy": a.to_json(spec.root_fields),
        "service": b.to_json(spec.root_fields),
    }


__all__ = [
    "CONTEXTS",
    "MARKET",
    "PRICING",
    "ContextParity",
    "ParityError",
    "ParityReport",
    "ParityTimeout",
    "check_parity",
    "context_parity",
]
