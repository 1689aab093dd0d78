from django.apps import AppConfig


class InternalConfig(AppConfig):
    name = "legacy_monolith.internal"
    label = "internal"
    default_auto_field = "django.db.models.BigAutoField"
