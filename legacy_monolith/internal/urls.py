from django.urls import path

from legacy_monolith.internal.apis import EscrowApi, IdentityApi, SettlementApi, SettlementReverseApi

app_name = "internal"

urlpatterns = [
    path("identity/", IdentityApi.as_view(), name="identity"),
    path("settlements/", SettlementApi.as_view(), name="settlements"),
    path("settlements/<str:key>/reverse/", SettlementReverseApi.as_view(), name="settlement-reverse"),
    path("escrow/", EscrowApi.as_view(), name="escrow"),
]
