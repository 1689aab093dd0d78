"""Two buyers race for one listing: row locks make exactly one of them win.

Real threads, each with its own database connection, released together by a
barrier; the tests use ``transaction=True`` so the rows are committed and
visible to both connections.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from legacy_monolith.market.models import Listing, Sale
from legacy_monolith.market.services import sale_record
from legacy_monolith.players.models import Player, Wallet
from legacy_monolith.smp.exceptions import ApplicationError


def race(buyers: list[Player], listing_id: int, quantity: int) -> list[str]:
    """Run one ``sale_record`` per buyer, all at once; return outcomes."""
    barrier = threading.Barrier(len(buyers))
    outcomes: list[str] = []
    lock = threading.Lock()

    def buy(buyer: Player) -> None:
        try:
            barrier.wait(timeout=10)
            sale_record(buyer=buyer, listing_id=listing_id, quantity=quantity)
            outcome = "won"
        except ApplicationError as exc:
            outcome = exc.code
        finally:
            connection.close()  # each thread opened its own connection
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=buy, args=(buyer,)) for buyer in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True)
def test_two_buyers_one_last_unit_exactly_one_wins(
    make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    seller = make_player(balance=0)
    buyers = [make_player(balance=10_000), make_player(balance=10_000)]
    listing = make_listing(seller, quantity=1, price=1_000)

    assert race(buyers, listing.pk, 1) == ["listing_closed", "won"]

    listing.refresh_from_db()
    assert (listing.status, listing.quantity_remaining) == ("F", 0)
    assert Sale.objects.filter(listing=listing).count() == 1
    assert Wallet.objects.get(player=seller).balance_copper == 950
    assert sorted(Wallet.objects.filter(player__in=buyers).values_list("balance_copper", flat=True)) == [9_000, 10_000]


@pytest.mark.django_db(transaction=True)
def test_two_buyers_overlapping_quantities_cannot_oversell(
    make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    seller = make_player(balance=0)
    buyers = [make_player(balance=10_000), make_player(balance=10_000)]
    listing = make_listing(seller, quantity=3, price=100)

    assert race(buyers, listing.pk, 2) == ["quantity_exceeds_remaining", "won"]

    listing.refresh_from_db()
    assert (listing.status, listing.quantity_remaining) == ("O", 1)
    assert sum(Sale.objects.filter(listing=listing).values_list("quantity", flat=True)) == 2
