"""The platform's projector (pricing's read model) when the embedded broker
restarts under it: the topics come back empty under new ids and are
refilled (a re-snapshot) *past* the offsets the projector stored before the
consumer notices. A fetch at the stored offsets would silently skip the
head of the new topics; the projector must see the new topic ids, replay
them from the start and converge, each sale counted once."""

from __future__ import annotations

from services_support import cloudevent, item, sale
from sqlalchemy import Engine, text

from acl.kafka_io import make_producer
from acl.topics import DOMAIN_PARTITIONS, ensure_topics
from local_stack.kafka import EmbeddedKafka
from local_stack.processes import wait_until
from new_services.contracts.events import DomainEvent
from new_services.platform import state
from new_services.platform.consumer import KafkaEventSource, Projector
from new_services.pricing.domain.clock import MarketClock
from new_services.pricing.service_layer.projection import PricingProjection

TOPICS = ("smp.market.v1", "smp.catalog.v1")


def restart(kafka: EmbeddedKafka) -> None:
    """Stop the broker and start a new one on the same port: memory storage, nothing kept."""
    kafka.stop()
    kafka.start()


def publish(bootstrap: str, events: list[DomainEvent]) -> None:
    ensure_topics(bootstrap, dict.fromkeys(TOPICS, DOMAIN_PARTITIONS))
    producer = make_producer(bootstrap, "test-acl")
    for event in events:
        # the ACL's event ids are deterministic: a re-snapshot repeats them for the same rows
        producer.send(event.topic(), event.subject().encode(), cloudevent(event, event_id=None))
    producer.flush(10)


def sales_and_trades(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        sales = conn.execute(text("SELECT count(*) FROM sales")).scalar_one()
        trades = conn.execute(text("SELECT coalesce(sum(trades), 0) FROM candles WHERE interval = '1d'")).scalar_one()
    return int(sales), int(trades)


def run_until(projector: Projector, done: object, what: str, timeout: float = 30.0) -> None:
    def step() -> bool:
        projector.run_once(timeout_ms=100)
        return bool(done())  # type: ignore[operator]

    wait_until(step, timeout=timeout, interval=0, what=what)


def test_a_restarted_broker_is_replayed_from_the_start_even_when_longer_than_the_stored_offsets(
    own_kafka: EmbeddedKafka, pricing_engine: Engine
) -> None:
    before = [item(1)] + [sale(n, minutes=n) for n in range(1, 21)]
    publish(own_kafka.bootstrap_servers, before)
    source = KafkaEventSource(own_kafka.bootstrap_servers, TOPICS, client_id="test-pricing", topic_wait_s=10)
    projector = Projector(PricingProjection(MarketClock.named("Europe/Paris")), source, pricing_engine, heartbeat_s=0.2)
    projector.sync()
    run_until(projector, lambda: sales_and_trades(pricing_engine) == (20, 20), "the first 20 sales")
    with pricing_engine.connect() as conn:
        stored = state.read_offsets(conn, "pricing")
        old_ids = state.read_topic_ids(conn, "pricing")
    assert set(old_ids) == set(TOPICS)

    restart(own_kafka)
    # the re-snapshot (the same 20 sales, new event ids) and 60 new sales, before the projector looks
    after = [item(1)] + [sale(n, minutes=n) for n in range(1, 81)]
    publish(own_kafka.bootstrap_servers, after)
    run_until(projector, lambda: sales_and_trades(pricing_engine) == (80, 80), "all 80 sales after the restart")

    with pricing_engine.connect() as conn:
        new_ids = state.read_topic_ids(conn, "pricing")
        status = state.read_status(conn, "pricing")
        offsets = state.read_offsets(conn, "pricing")
    assert all(new_ids[t] != old_ids[t] for t in TOPICS)
    assert status is not None and status.topic_resets >= 1
    assert sum(o for (t, _), o in offsets.items() if t == "smp.market.v1") == 80  # every sale read
    assert sum(stored.values()) == 21  # before: item + 20 sales
    source.close()
