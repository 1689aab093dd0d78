"""pricing: the exchange rate of every item as a read model (CQRS).

Built from ``SaleRecorded`` (and its corrections) on ``smp.market.v1`` and
the items of ``smp.catalog.v1``; owns ``GET /api/items/{id}/rate/`` and
``GET /api/items/{id}/history/`` with the monolith's contract.

Layout (cosmicpython): ``domain/`` (pure: time windows, candles, the rate),
``adapters/`` (tables, queries, the projection's writes), ``service_layer/``
(what a read and an event do), ``entrypoints/`` (the FastAPI app, the
projector process, ``python -m new_services.pricing``), ``alembic/``.
"""
