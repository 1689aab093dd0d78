"""URLconf of the SMP monolith: admin, the DRF API and its OpenAPI schema.

Each bounded context (app) has its own ``urls.py`` and URL namespace
(``catalog``, ``market``, ``players``); the endpoint inventory of the
migration plan can group routes by that namespace. ``/_internal/``
(namespace ``internal``) serves the strangler's own parts, not clients.
"""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("legacy_monolith.catalog.urls")),
    path("api/", include("legacy_monolith.market.urls")),
    path("api/", include("legacy_monolith.players.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # For the strangler's own parts only: service token, not in the schema.
    path("_internal/", include("legacy_monolith.internal.urls")),
]
