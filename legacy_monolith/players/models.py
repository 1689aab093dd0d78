"""Players: accounts, gold wallets and inventories.

Legacy schema, kept exactly as the monolith has had it for ten years. The
anti-corruption layer (acl/translators/) is the only code outside this
monolith that may know these names; this docstring is its spec.

``smp_plyr`` (Player)
    ``id``       bigint primary key.
    ``usr_id``   one-to-one to Django's ``auth_user`` (login + API token).
    ``nm``       display name, unique, case-sensitive.
    ``eml``      e-mail, may be empty string (never NULL).
    ``sts``      single-char status code: ``A`` active, ``B`` banned,
                 ``D`` deleted (soft delete: rows are never removed).
    ``crt_dt``   creation time, **naive**, in the server's local zone
                 (``settings.TIME_ZONE`` = Europe/Paris, with DST).
    ``xtr``      free-text column holding JSON, e.g.
                 ``{"guild": "Ravens", "lvl": 12, "lang": "fr"}``; may be
                 empty string or ``{}``; never validated by the monolith.

``smp_wlt`` (Wallet), one row per player
    ``plyr_id``  the owner (unique).
    ``bal_cp``   balance in **integer copper coins**: 100 copper = 1 silver,
                 100 silver = 1 gold. Never negative.
    ``upd_dt``   last change, naive local time.
    Balances change by UPDATE in place; there is no ledger table. CDC sees
    credits and debits only as the difference between before and after.

``smp_inv`` (InventorySlot), one row per (player, item)
    ``plyr_id``, ``itm_id``  unique together.
    ``qty``      how many of the item the player holds, never negative; a
                 slot at zero is kept, not deleted.

Every ``*_dt`` column is ``timestamp without time zone`` (migration 0002:
Django alone would have made them ``timestamptz``, contradicting this spec).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from legacy_monolith.smp.fields import NaiveDateTimeField


class PlayerStatus(models.TextChoices):
    ACTIVE = "A", "Active"
    BANNED = "B", "Banned"
    DELETED = "D", "Deleted"


class Player(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, db_column="usr_id", related_name="player"
    )
    name = models.CharField(max_length=32, unique=True, db_column="nm")
    email = models.CharField(max_length=254, blank=True, default="", db_column="eml")
    status = models.CharField(max_length=1, choices=PlayerStatus.choices, default=PlayerStatus.ACTIVE, db_column="sts")
    created_at = NaiveDateTimeField(auto_now_add=True, db_column="crt_dt")
    extra = models.TextField(blank=True, default="", db_column="xtr")

    class Meta:
        db_table = "smp_plyr"

    def __str__(self) -> str:
        return self.name


class Wallet(models.Model):
    player = models.OneToOneField(Player, on_delete=models.PROTECT, db_column="plyr_id", related_name="wallet")
    balance_copper = models.BigIntegerField(default=0, db_column="bal_cp")
    updated_at = NaiveDateTimeField(auto_now=True, db_column="upd_dt")

    class Meta:
        db_table = "smp_wlt"
        constraints = [models.CheckConstraint(condition=models.Q(balance_copper__gte=0), name="smp_wlt_bal_nonneg")]

    def __str__(self) -> str:
        return f"wallet of {self.player_id}"


class InventorySlot(models.Model):
    player = models.ForeignKey(Player, on_delete=models.PROTECT, db_column="plyr_id", related_name="inventory")
    item = models.ForeignKey("catalog.Item", on_delete=models.PROTECT, db_column="itm_id", related_name="+")
    quantity = models.IntegerField(default=0, db_column="qty")

    class Meta:
        db_table = "smp_inv"
        constraints = [
            models.UniqueConstraint(fields=["player", "item"], name="smp_inv_plyr_itm_uniq"),
            models.CheckConstraint(condition=models.Q(quantity__gte=0), name="smp_inv_qty_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.item_id} of {self.player_id}"
