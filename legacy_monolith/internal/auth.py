"""Service-token authentication of the ``/_internal/`` API.

Callers (the strangler proxy, the market service) send
``X-Strangler-Service-Token: <token>``; it is compared in constant time with
``settings.STRANGLER_INTERNAL_TOKEN`` (env ``STRANGLER_INTERNAL_TOKEN``,
the state dir's ``internal-token`` under ``strangler up``). A missing or
wrong token, or no token configured at all, is a 401 with DRF's
``{"detail": ...}`` body: the internal API is closed unless configured.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

HEADER = "X-Strangler-Service-Token"
_META_KEY = "HTTP_X_STRANGLER_SERVICE_TOKEN"
SERVICE = "strangler-service"  # request.auth of an authenticated internal call


def service_token_valid(*, given: str) -> bool:
    expected = settings.STRANGLER_INTERNAL_TOKEN
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class ServiceTokenAuthentication(BaseAuthentication):
    """Authenticates the calling *service*; the user is anonymous (the
    identity endpoint resolves the end user's token itself)."""

    def authenticate(self, request: Request) -> tuple[Any, str]:
        if not service_token_valid(given=request.META.get(_META_KEY, "")):
            raise AuthenticationFailed(f"Missing or invalid {HEADER}.")
        return AnonymousUser(), SERVICE

    def authenticate_header(self, request: Request) -> str:
        return 'Strangler-Service-Token realm="internal"'  # makes DRF answer 401, not 403


class IsStranglerService(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.auth == SERVICE
