"""Catalog: the items players trade.

Legacy schema spec (the anti-corruption layer translates from this):

``smp_itm`` (Item)
    ``id``       bigint primary key.
    ``sku``      stock code, unique, upper-case, e.g. ``WPN-0042``.
    ``nm``       display name.
    ``cat``      two-char category code: ``WP`` weapon, ``AR`` armour,
                 ``CS`` consumable, ``MT`` crafting material, ``MS`` misc.
    ``rar``      rarity as a small integer: 0 common, 1 uncommon, 2 rare,
                 3 epic, 4 legendary.
    ``act``      ``Y``/``N`` char flag: whether the item can be listed. Items
                 are never deleted, only set to ``N``.
    ``crt_dt``   creation time, naive, server local zone (Europe/Paris).
    ``xtr``      free-text JSON, e.g. ``{"lvl_req": 10, "stack": 20,
                 "desc": "A rusty blade"}``; may be empty string.

``crt_dt`` is ``timestamp without time zone`` (migration 0002).
"""

from __future__ import annotations

from django.db import models

from legacy_monolith.smp.fields import NaiveDateTimeField


class Category(models.TextChoices):
    WEAPON = "WP", "Weapon"
    ARMOUR = "AR", "Armour"
    CONSUMABLE = "CS", "Consumable"
    MATERIAL = "MT", "Crafting material"
    MISC = "MS", "Misc"


class Rarity(models.IntegerChoices):
    COMMON = 0, "Common"
    UNCOMMON = 1, "Uncommon"
    RARE = 2, "Rare"
    EPIC = 3, "Epic"
    LEGENDARY = 4, "Legendary"


class Item(models.Model):
    sku = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=64, db_column="nm")
    category = models.CharField(max_length=2, choices=Category.choices, db_column="cat")
    rarity = models.SmallIntegerField(choices=Rarity.choices, default=Rarity.COMMON, db_column="rar")
    active = models.CharField(max_length=1, choices=[("Y", "Yes"), ("N", "No")], default="Y", db_column="act")
    created_at = NaiveDateTimeField(auto_now_add=True, db_column="crt_dt")
    extra = models.TextField(blank=True, default="", db_column="xtr")

    class Meta:
        db_table = "smp_itm"

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"
