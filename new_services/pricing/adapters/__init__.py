"""pricing's adapters: its tables, the read queries of the HTTP side and the
writes of the projection (SQLAlchemy 2 Core on PostgreSQL)."""
