"""WSGI entry point, served by gunicorn under ``strangler up``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_monolith.smp.settings")

application = get_wsgi_application()
