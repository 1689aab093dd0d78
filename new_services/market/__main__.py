"""``python -m new_services.market migrate|serve|project|relay``.

- ``migrate``: bring market's database to the Alembic head (idempotent).
- ``serve``: the HTTP app under uvicorn (with the outbox relay as a thread
  unless ``STRANGLER_MARKET_RELAY=off``), resuming unfinished sagas.
- ``project``: the projector, maintaining the store from the ACL's events.
- ``relay``: the outbox relay alone.

A missing or malformed setting ends the command with exit code 2 and one
line naming it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from new_services.market.settings import MarketSettings
from new_services.platform.settings import SettingsError

USAGE = "usage: python -m new_services.market migrate|serve|project|relay"


def migrate(settings: MarketSettings) -> None:
    from new_services.market.bootstrap import SCRIPT_LOCATION
    from new_services.platform.migrations import upgrade

    upgrade(SCRIPT_LOCATION, settings.service.database_url)


def serve(settings: MarketSettings) -> None:
    from new_services.market.bootstrap import bootstrap
    from new_services.market.entrypoints.http import create_app
    from new_services.platform.http import run_under_uvicorn

    run_under_uvicorn(create_app(bootstrap(settings)), host=settings.service.host, port=settings.service.port)


def project(settings: MarketSettings) -> None:
    from new_services.market.bootstrap import projection, sync_engine
    from new_services.market.service_layer.projection import MarketProjector
    from new_services.platform.consumer import KafkaEventSource

    store = projection(settings)
    source = KafkaEventSource(settings.service.require_kafka(), store.topics, client_id="strangler-market")
    projector = MarketProjector(store, source, sync_engine(settings))
    signal.signal(signal.SIGTERM, projector.request_stop)
    signal.signal(signal.SIGINT, projector.request_stop)
    projector.run()


def relay(settings: MarketSettings) -> None:
    from new_services.market.adapters.relay import KafkaPublisher, OutboxRelay

    publisher = KafkaPublisher(settings.service.require_kafka())
    outbox = OutboxRelay(settings.service.libpq_dsn, publisher)
    signal.signal(signal.SIGTERM, outbox.request_stop)
    signal.signal(signal.SIGINT, outbox.request_stop)
    outbox.run()
    publisher.close()


COMMANDS = {"migrate": migrate, "serve": serve, "project": project, "relay": relay}


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
        settings = MarketSettings.from_env()
        COMMANDS[argv[0]](settings)
    except SettingsError as exc:
        print(f"market: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
