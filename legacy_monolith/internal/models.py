"""The idempotency record of the ``/_internal/`` API.

``strangler_internal_op``: one row per idempotency key (a saga step id,
``<saga uuid>:<step>``), written in the same transaction as the effect it
records, so "applied" in this table and the gold/items moved can never
disagree.

``key``          the caller's key, primary key (the unique insert is what
                 makes two concurrent calls with one key apply once).
``kind``         ``settlement`` or ``escrow``.
``fingerprint``  SHA-256 of the canonical request (without the key); a
                 tombstone has none.
``request``      the request as applied (what a reversal needs to undo).
``state``        ``applied``, ``refused`` or ``reversed`` (a reversed key
                 that was never applied is a tombstone: ``request`` empty).
``status``/``body``  the answer given; a repeat gets it again.
``reversal``     the answer of the reversal, once reversed.

Not captured by CDC (not in acl's table list): it is the monolith's own
bookkeeping, not market data.
"""

from __future__ import annotations

from django.db import models


class OperationKind(models.TextChoices):
    SETTLEMENT = "settlement", "Settlement"
    ESCROW = "escrow", "Escrow"


class OperationState(models.TextChoices):
    PENDING = "pending", "Pending"  # only ever seen inside the claiming transaction
    APPLIED = "applied", "Applied"
    REFUSED = "refused", "Refused"
    REVERSED = "reversed", "Reversed"


class InternalOperation(models.Model):
    key = models.CharField(max_length=200, primary_key=True)
    kind = models.CharField(max_length=16, choices=OperationKind.choices)
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    request = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=OperationState.choices)
    status = models.IntegerField(null=True)
    body = models.JSONField(null=True)
    reversal = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strangler_internal_op"

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.state}"
