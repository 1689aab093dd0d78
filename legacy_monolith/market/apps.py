from django.apps import AppConfig


class MarketConfig(AppConfig):
    name = "legacy_monolith.market"
    label = "market"
    default_auto_field = "django.db.models.BigAutoField"
