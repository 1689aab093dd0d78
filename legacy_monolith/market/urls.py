from django.urls import path

from legacy_monolith.market.apis import (
    ItemHistoryApi,
    ItemRateApi,
    ListingCancelApi,
    ListingListCreateApi,
    SaleListCreateApi,
)

app_name = "market"

urlpatterns = [
    path("items/<int:item_id>/rate/", ItemRateApi.as_view(), name="item-rate"),
    path("items/<int:item_id>/history/", ItemHistoryApi.as_view(), name="item-history"),
    path("listings/", ListingListCreateApi.as_view(), name="listing-list"),
    path("listings/<int:listing_id>/cancel/", ListingCancelApi.as_view(), name="listing-cancel"),
    path("sales/", SaleListCreateApi.as_view(), name="sale-list"),
]
