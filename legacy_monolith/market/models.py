"""Market: listings (sell orders) and sales (trades).

Legacy schema spec (the anti-corruption layer translates from this):

``smp_lst`` (Listing), a sell order
    ``id``       bigint primary key.
    ``sllr_id``  seller, a ``smp_plyr.id``.
    ``itm_id``   the item, a ``smp_itm.id``.
    ``qty``      quantity first offered.
    ``qty_rem``  quantity still for sale; a sale lowers it in place.
    ``prc_cp``   unit price in integer copper (100 cp = 1 silver,
                 10,000 cp = 1 gold).
    ``sts``      single-char status: ``O`` open, ``F`` filled (qty_rem hit
                 0), ``C`` cancelled by the seller, ``X`` expired.
    ``crt_dt``, ``upd_dt``  naive, server local zone (Europe/Paris).
    Listing the item moves it out of the seller's inventory (escrow);
    cancelling gives the remainder back. A cancelled listing keeps its
    ``qty_rem``: it then means the quantity returned to the seller.

``smp_sale`` (Sale), one trade against one listing
    ``id``       bigint primary key.
    ``lst_id``   the listing bought from.
    ``byr_id``   buyer, a ``smp_plyr.id``.
    ``sllr_id``  seller, denormalised copy of the listing's seller.
    ``itm_id``   item, denormalised copy of the listing's item.
    ``qty``      quantity bought.
    ``prc_cp``   unit price paid, integer copper.
    ``tot_cp``   ``qty * prc_cp``, stored, integer copper.
    ``fee_cp``   market tax kept by the house (5 % of ``tot_cp``, rounded
                 down); the seller is credited ``tot_cp - fee_cp``.
    ``sld_at``   trade time, naive, server local zone (Europe/Paris).
    Sales are insert-only.

Every ``*_dt``/``*_at`` column is ``timestamp without time zone``
(migration 0002: Django alone would have made them ``timestamptz``).
"""

from __future__ import annotations

from django.db import models

from legacy_monolith.smp.fields import NaiveDateTimeField


class ListingStatus(models.TextChoices):
    OPEN = "O", "Open"
    FILLED = "F", "Filled"
    CANCELLED = "C", "Cancelled"
    EXPIRED = "X", "Expired"


class Listing(models.Model):
    seller = models.ForeignKey("players.Player", on_delete=models.PROTECT, db_column="sllr_id", related_name="listings")
    item = models.ForeignKey("catalog.Item", on_delete=models.PROTECT, db_column="itm_id", related_name="listings")
    quantity = models.IntegerField(db_column="qty")
    quantity_remaining = models.IntegerField(db_column="qty_rem")
    unit_price_copper = models.BigIntegerField(db_column="prc_cp")
    status = models.CharField(max_length=1, choices=ListingStatus.choices, default=ListingStatus.OPEN, db_column="sts")
    created_at = NaiveDateTimeField(auto_now_add=True, db_column="crt_dt")
    updated_at = NaiveDateTimeField(auto_now=True, db_column="upd_dt")

    class Meta:
        db_table = "smp_lst"
        indexes = [models.Index(fields=["item", "status"], name="smp_lst_itm_sts")]

    def __str__(self) -> str:
        return f"listing {self.pk}: {self.quantity_remaining}/{self.quantity} of {self.item_id}"


class Sale(models.Model):
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, db_column="lst_id", related_name="sales")
    buyer = models.ForeignKey("players.Player", on_delete=models.PROTECT, db_column="byr_id", related_name="purchases")
    seller = models.ForeignKey("players.Player", on_delete=models.PROTECT, db_column="sllr_id", related_name="+")
    item = models.ForeignKey("catalog.Item", on_delete=models.PROTECT, db_column="itm_id", related_name="sales")
    quantity = models.IntegerField(db_column="qty")
    unit_price_copper = models.BigIntegerField(db_column="prc_cp")
    total_copper = models.BigIntegerField(db_column="tot_cp")
    fee_copper = models.BigIntegerField(default=0, db_column="fee_cp")
    sold_at = NaiveDateTimeField(db_column="sld_at")

    class Meta:
        db_table = "smp_sale"
        indexes = [models.Index(fields=["item", "sold_at"], name="smp_sale_itm_sld")]

    def __str__(self) -> str:
        return f"sale {self.pk}: {self.quantity} x {self.item_id} @ {self.unit_price_copper}cp"
