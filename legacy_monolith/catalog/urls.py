from django.urls import path

from legacy_monolith.catalog.apis import ItemDetailApi, ItemListApi

app_name = "catalog"

urlpatterns = [
    path("items/", ItemListApi.as_view(), name="item-list"),
    path("items/<int:item_id>/", ItemDetailApi.as_view(), name="item-detail"),
]
