"""`kuzet appeals serve|import`: citizens' appeals from the city's portal into kuzet.detections.v1.

`serve` answers `POST /appeals/v1` (one appeal or a list; `KUZET_APPEALS_TOKEN` as a bearer
token when set) until SIGTERM/SIGINT; `import FILE` sends a JSON-lines or CSV export, reporting
and skipping bad lines (exit 1 if any). The format is in `detectors/appeals.py`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kuzet.errors import KuzetError
from kuzet.settings import load_settings

__all__ = ["register"]

console = Console()
err = Console(stderr=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Settings TOML file.")]
appeals_app = typer.Typer(help="Citizens' appeals as a source of incidents.",
                          no_args_is_help=True)


@appeals_app.command("serve")
def serve(config: ConfigOpt = None,
          listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:8200"
          ) -> None:
    """Accept appeals over HTTP (POST /appeals/v1) and publish them until stopped."""
    import uvicorn

    from detectors.appeals import create_appeal_app
    from detectors.publisher import KafkaPublisher
    from domain.topics import DETECTIONS
    from kuzet.kafka import ensure_topics

    settings = load_settings(config)
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise KuzetError(f"--listen {listen!r}: expected HOST:PORT")
    from detectors.publisher import PublisherOptions
    from kuzet.kafka import client_options

    asyncio.run(ensure_topics(settings.bootstrap_servers, [DETECTIONS],
                              settings.kafka_partitions, options=client_options(settings)))
    publisher = KafkaPublisher(settings.bootstrap_servers, PublisherOptions(
        client_options=client_options(settings))).start()
    try:
        app = create_appeal_app(publisher.publish_detection,
                                token=settings.appeals_token or None)
        console.print(f"appeals on http://{host or '127.0.0.1'}:{port}/appeals/v1")
        uvicorn.run(app, host=host or "127.0.0.1", port=int(port), log_level="warning")
    finally:
        publisher.close()


@appeals_app.command("import")
def import_(file: Annotated[Path, typer.Argument(help="JSON lines, or .csv with a header.")],
            config: ConfigOpt = None) -> None:
    """Publish the appeals of an export file; bad lines are listed and skipped."""
    from detectors.appeals import appeal_to_detection, read_appeals
    from detectors.errors import AppealInputError
    from domain.detection import encode_detection
    from domain.topics import DETECTIONS
    from kuzet.commands.core import publish_records

    settings = load_settings(config)
    now = datetime.now(UTC)
    records, bad = [], 0
    try:
        for line, appeal in read_appeals(file):
            try:
                d = appeal_to_detection(appeal, now=now)
            except AppealInputError as exc:
                bad += 1
                err.print(f"{file}:{line}: {exc}", highlight=False, soft_wrap=True)
                continue
            records.append((d.source_id.encode(), encode_detection(d)))
    except (OSError, UnicodeDecodeError) as exc:
        raise KuzetError(f"cannot read {file}: {exc}") from None
    from kuzet.kafka import client_options

    sent = asyncio.run(publish_records(settings.bootstrap_servers, records, DETECTIONS,
                                       client_options(settings)))
    console.print(f"published {sent} appeal(s) to {DETECTIONS}; {bad} refused")
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(appeals_app, name="appeals")
