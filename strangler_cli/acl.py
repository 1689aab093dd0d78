"""``strangler acl dlq list|replay``: look at and retry dead letters.

The broker comes from ``--bootstrap``, else ``KAFKA_BOOTSTRAP_SERVERS``, else
``<state-dir>/endpoints.json`` key ``kafka``. Replay translates each dead
letter again with the installed translators and publishes what now succeeds
to the domain topics; event ids are deterministic, so replaying twice (or a
letter that later flowed anyway) creates no duplicate for consumers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.table import Table

from strangler_cli.clients import bootstrap_unreachable
from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import cells, console, examples, fail, say
from strangler_cli.state import JsonOpt, StateOpt, endpoints_or_none

acl_app = typer.Typer(help="The anti-corruption layer (legacy rows -> domain events).", no_args_is_help=True)
dlq_app = typer.Typer(help="The dead-letter topic acl.dlq.", no_args_is_help=True)
acl_app.add_typer(dlq_app, name="dlq")

BootstrapOpt = typer.Option(None, "--bootstrap", help="Kafka bootstrap servers (else env, else the state dir).")


def _bootstrap(explicit: str | None, state_dir: Path) -> str:
    if explicit:
        return explicit
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    kafka = (endpoints_or_none(state_dir) or {}).get("kafka")
    if not kafka:
        fail(
            f"no broker: pass --bootstrap, set KAFKA_BOOTSTRAP_SERVERS or run `strangler up` "
            f"({state_dir / 'endpoints.json'} has none)",
            ExitCode.UNREACHABLE,
        )
    return str(kafka)


@contextmanager
def _broker(servers: str) -> Iterator[None]:
    """Turn "no broker answers" into exit code 3 with one clear line: at once
    if no bootstrap port is open, else when kafka-python gives up."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    why = bootstrap_unreachable(servers, timeout=3.0)
    if why:
        fail(f"cannot reach the broker at {servers}: {why}", ExitCode.UNREACHABLE)
    try:
        yield
    except (KafkaConnectionError, KafkaTimeoutError) as exc:
        fail(f"cannot reach the broker at {servers}: {exc}", ExitCode.UNREACHABLE)


@dlq_app.command("list", epilog=examples("strangler acl dlq list", "strangler acl dlq list --json"))
def list_letters(state_dir: Path = StateOpt, bootstrap: str | None = BootstrapOpt, as_json: bool = JsonOpt) -> None:
    """Every dead letter: where it came from and why it failed."""
    from acl.dlq import read_dead_letters

    servers = _bootstrap(bootstrap, state_dir)
    with _broker(servers):
        letters = list(read_dead_letters(servers))
    if as_json:
        typer.echo(json.dumps([{**lt.__dict__} for lt in letters], indent=2))
        return
    table = Table("dlq offset", "source", "key", "reason")
    for lt in letters:
        table.add_row(
            *cells(
                f"{lt.dlq_partition}:{lt.dlq_offset}",
                f"{lt.topic}[{lt.partition}]@{lt.offset}",
                lt.key or "-",
                lt.reason,
            )
        )
    console.print(table)
    say(f"{len(letters)} dead letter(s)", stderr=True)


@dlq_app.command(
    "replay", epilog=examples("strangler acl dlq replay", "strangler acl dlq replay --offset 3 --offset 4 --json")
)
def replay_letters(
    offsets: list[int] = typer.Option([], "--offset", help="DLQ offset(s) to replay (repeatable); default: all."),
    state_dir: Path = StateOpt,
    bootstrap: str | None = BootstrapOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Translate dead letters again and publish the events that now succeed."""
    from acl.consumer import translate_record
    from acl.dlq import read_dead_letters, replay
    from acl.kafka_io import make_producer

    servers = _bootstrap(bootstrap, state_dir)
    with _broker(servers):
        letters = [lt for lt in read_dead_letters(servers) if not offsets or lt.dlq_offset in offsets]
    producer = make_producer(servers, "strangler-dlq-replay")
    try:
        results = replay(letters, translate_record, producer)
    finally:
        producer.close(5)
    rows = [
        {
            "dlq_offset": r.letter.dlq_offset,
            "source": f"{r.letter.topic}[{r.letter.partition}]@{r.letter.offset}",
            "published": r.published,
            "error": r.error,
        }
        for r in results
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        table = Table("dlq offset", "source", "events published", "still failing")
        for row in rows:
            table.add_row(*cells(row["dlq_offset"], row["source"], row["published"], row["error"] or ""))
        console.print(table)
    if any(r.error for r in results):
        raise typer.Exit(int(ExitCode.FAILURE))
