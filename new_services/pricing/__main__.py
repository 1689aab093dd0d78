"""``python -m new_services.pricing migrate|serve|project``.

- ``migrate``: bring pricing's database to the Alembic head (idempotent).
- ``serve``: the HTTP app under uvicorn on the settings' host and port.
- ``project``: the projector, maintaining the read model from the events.

A missing or malformed setting ends the command with exit code 2 and one
line naming it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from new_services.platform.settings import SettingsError
from new_services.pricing.settings import PricingSettings

USAGE = "usage: python -m new_services.pricing migrate|serve|project"


def migrate(settings: PricingSettings) -> None:
    from new_services.platform.migrations import upgrade
    from new_services.pricing.bootstrap import SCRIPT_LOCATION

    upgrade(SCRIPT_LOCATION, settings.service.database_url)


def serve(settings: PricingSettings) -> None:
    from new_services.platform.http import run_under_uvicorn
    from new_services.pricing.bootstrap import bootstrap
    from new_services.pricing.entrypoints.http import serving_app

    run_under_uvicorn(serving_app(bootstrap(settings)), host=settings.service.host, port=settings.service.port)


def project(settings: PricingSettings) -> None:
    from new_services.platform.consumer import KafkaEventSource, Projector
    from new_services.pricing.bootstrap import projection, sync_engine

    read_model = projection(settings)
    source = KafkaEventSource(settings.service.require_kafka(), read_model.topics, client_id="strangler-pricing")
    projector = Projector(read_model, source, sync_engine(settings))
    signal.signal(signal.SIGTERM, projector.request_stop)
    signal.signal(signal.SIGINT, projector.request_stop)
    projector.run()


COMMANDS = {"migrate": migrate, "serve": serve, "project": project}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=os.environ.get("STRANGLER_LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        settings = PricingSettings.from_env()
        COMMANDS[argv[0]](settings)
    except SettingsError as exc:
        print(f"pricing: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
