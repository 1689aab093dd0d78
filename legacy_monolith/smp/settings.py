"""Django settings for the SMP marketplace monolith.

Read once from the environment; ``strangler up`` sets every variable. The
monolith deliberately runs with ``USE_TZ = False`` and a local
``TIME_ZONE``: timestamps land in the database naive, in Paris time, as they
have for ten years. The anti-corruption layer undoes that.
"""

from __future__ import annotations

from pathlib import Path

from strangler_settings import DatabaseUrl, boolean, csv_list, integer, number, read

BASE_DIR = Path(__file__).resolve().parent.parent


def database_from_url(url: str) -> dict[str, object]:
    """Django DATABASES entry from a ``postgresql://`` URL (or libpq DSN),
    parsed by libpq: query parameters (``sslmode``, ``application_name``...)
    become ``OPTIONS``, which Django hands to psycopg as they are."""
    db = DatabaseUrl.parse(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": db.dbname,
        "USER": db.user,
        "PASSWORD": db.password,
        "HOST": db.host,
        "PORT": str(db.port),
        "OPTIONS": db.options,
        "CONN_MAX_AGE": 60,
        # A kept connection is checked before a request reuses it: after a database restart
        # the first request of each worker would otherwise fail (docs/resilience.md).
        "CONN_HEALTH_CHECKS": True,
        "ATOMIC_REQUESTS": False,
    }


def _database(raw: str) -> str:
    """A PostgreSQL URL or DSN, checked by libpq's parser, kept as given."""
    return str(DatabaseUrl.parse(raw))


SECRET_KEY = read("SMP_SECRET_KEY", default="", secret=True)
if not SECRET_KEY:
    # A per-process random key: sessions do not survive a restart, which is
    # fine for the token-authenticated API; production sets SMP_SECRET_KEY.
    import secrets

    SECRET_KEY = secrets.token_urlsafe(50)

DEBUG = read("SMP_DEBUG", boolean, default=False)
ALLOWED_HOSTS = read("SMP_ALLOWED_HOSTS", csv_list, default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "legacy_monolith.players",
    "legacy_monolith.catalog",
    "legacy_monolith.market",
    "legacy_monolith.internal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "legacy_monolith.smp.urls"
WSGI_APPLICATION = "legacy_monolith.smp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        read("STRANGLER_LEGACY_DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/smp")
    )
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = False  # legacy: naive local timestamps in the database

STATIC_URL = "/static/"
STATIC_ROOT = read("SMP_STATIC_ROOT", Path, default=BASE_DIR / "staticfiles")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "legacy_monolith.smp.exceptions.exception_handler",
}

# Gold credited to a newly registered player's wallet, in copper (100 gold).
SMP_STARTING_BALANCE_COPPER = read("SMP_STARTING_BALANCE_COPPER", integer(0), default=1_000_000)
# Market tax kept by the house on every sale, in percent of the total.
SMP_MARKET_FEE_PERCENT = 5

# The strangler migration (docs/market-write-side.md).
# Shared secret of the /_internal/ API (header X-Strangler-Service-Token).
# Empty (unset): every /_internal/ call is refused with 401.
STRANGLER_INTERNAL_TOKEN = read("STRANGLER_INTERNAL_TOKEN", default="", secret=True)
# The control database holding ``strangler_write_owners`` (who writes each
# context). Empty (unset): the monolith owns every context's writes.
STRANGLER_CONTROL_DATABASE_URL = read("STRANGLER_CONTROL_DATABASE_URL", _database, default="", secret=True)
# After a flip back to legacy, how long a market write waits for the service
# handing the writes back (then 409 writes_moved; see market/ownership.py).
STRANGLER_HANDOVER_WAIT_S = read("STRANGLER_HANDOVER_WAIT_S", number(0, 60), default=5.0)

SPECTACULAR_SETTINGS = {
    "TITLE": "SMP marketplace (legacy monolith)",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The default hook, then ours (see legacy_monolith/smp/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "legacy_monolith.smp.openapi.document_empty_query_values",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": read("SMP_LOG_LEVEL", default="WARNING")},
}
