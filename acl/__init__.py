"""Anti-corruption layer: legacy CDC changes in, clean domain events out.

- ``envelope``: the Debezium change envelope (what Kafka Connect writes).
- ``translators``: pure functions legacy change -> domain events; the only
  place legacy table/column names and codes appear.
- ``cloudevents``: domain event -> CloudEvents 1.0 JSON with a deterministic id.
- ``relay``: Debezium embedded engine -> Kafka (``python -m acl.relay``).
- ``consumer``: legacy topics -> domain topics + DLQ (``python -m acl``).
"""
