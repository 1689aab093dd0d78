"""Discovery against the monolith's real URLconf (a child process with its
settings; no database needed)."""

from __future__ import annotations

from migration_plan.inventory import discover_routes


def test_every_api_route_with_its_methods_admin_and_internal_left_out() -> None:
    routes = {r.path: r for r in discover_routes()}
    assert routes["/api/items/{item_id}/rate/"].methods == ("GET", "HEAD")
    assert routes["/api/items/{item_id}/rate/"].namespace == "market"
    assert routes["/api/listings/"].methods == ("GET", "HEAD", "POST")
    assert routes["/api/listings/{listing_id}/cancel/"].methods == ("POST",)
    assert routes["/api/players/"].methods == ("POST",)
    assert routes["/api/schema/"].view == "drf_spectacular.views.SpectacularAPIView"
    assert not [p for p in routes if p.startswith(("/admin/", "/_internal/"))]


def test_internal_routes_on_request() -> None:
    paths = {r.path for r in discover_routes(include_internal=True)}
    assert "/_internal/settlements/{key}/reverse/" in paths
