"""Anti-corruption layer: legacy CDC changes in, clean domain events out.

- ``envelope``: the Debezium change envelope (what Kafka Connect writes).
- ``translators``: pure functions legacy change -> domain events; the only
  place legacy table/column names and codes appear.
- ``cloudevents``: the ACL's envelope attributes (deterministic id, commit
  time); the message itself is written by the contracts' codec.
- ``translation``: one consumed record -> messages (or a dead letter).
- ``ports`` / ``unit_of_work``: the loop's source and publisher ports, and
  the batch that commits its offsets only after the broker acknowledged it.
- ``consumer``: legacy topics -> domain topics + DLQ (``python -m acl``);
  ``kafka_io``: the Kafka adapters of the ports.
- ``relay``: Debezium embedded engine -> Kafka (``python -m acl.relay``).
- ``syncback``: the market's own events -> legacy rows, never captured back
  as new events (``python -m acl.syncback``).
"""
