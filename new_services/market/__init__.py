"""market: the listings and sales of the SMP market as a new service that
owns their writes once the flip gives them to it.

- ``project``: builds its store (listings, sales, the players and items its
  rules need) from the ACL's events, skipping its own (``/strangler/market``);
- ``serve``: the monolith's five market endpoints (reads and writes), the
  write side as sagas against the monolith's ``/_internal/`` API, and the
  outbox relay (a thread, see ``adapters/relay.py``);
- ``relay``: the outbox relay alone (when it should run apart from ``serve``).

The contract with the other parts is ``docs/market-write-side.md``.
"""
