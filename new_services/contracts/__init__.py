"""Event contracts shared by the anti-corruption layer and the new services.

- ``values``: Money and the enums (standard library only).
- ``events``: the versioned, past-tense domain events (frozen dataclasses)
  and the topic of each bounded context (standard library only).
- ``codec``: the one codec, event <-> CloudEvents JSON (structured mode),
  used by every producer and consumer; ``payload`` is its field mapping.
- ``upcasting``: how older versions of an event are read as the newest.
- ``schema``: the JSON Schemas of the messages, published in ``schemas/``.
"""
