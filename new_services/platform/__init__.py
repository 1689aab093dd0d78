"""What every new service shares: typed settings, its own database (SQLAlchemy
2 + Alembic), the event-consumption loop that stores Kafka offsets in the same
transaction as the rows they produced, and the health/readiness/admin HTTP
routes. A service package (``pricing/``, ...) plugs its projection and its
FastAPI routes into these pieces from its own ``bootstrap``.
"""
