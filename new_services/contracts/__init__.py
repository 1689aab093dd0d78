"""Event contracts shared by the anti-corruption layer and the new services.

- ``values``: Money and the enums (standard library only).
- ``events``: the versioned, past-tense domain events (frozen dataclasses).
- ``schema``: their JSON Schemas, published as files in ``schemas/``.
"""
