"""`kuzet cameras watch`: turn camera health (`kuzet.health.v1`) into `camera_offline` records.

A source with no frames for `KUZET_CAMERA_SILENT_AFTER_S` (heartbeats stopped, zero frames, or
`source_offline`) gets one `camera_offline` detection per `KUZET_CAMERA_REPEAT_S` on
`kuzet.detections.v1`; the correlator opens one incident per outage and auto-resolves it once
frames return (`domain/rules.toml`, kind `camera_offline`). Stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from domain.camera_watch import CameraWatch
from kuzet.settings import load_settings

__all__ = ["register"]

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Settings TOML file.")]
cameras_app = typer.Typer(help="Camera health: outages become incidents.", no_args_is_help=True)


@cameras_app.command("watch")
def watch(config: ConfigOpt = None) -> None:
    """Follow kuzet.health.v1 and publish camera_offline records for silent sources."""
    from domain.topics import DETECTIONS, HEALTH
    from kuzet.kafka import ensure_topics
    from streams.camera_watch import CameraWatcher

    settings = load_settings(config)

    def make_watch() -> CameraWatch:
        return CameraWatch(silent_after=timedelta(seconds=settings.camera_silent_after_s),
                           repeat_every=timedelta(seconds=settings.camera_repeat_s))

    from kuzet.kafka import client_options

    async def main() -> None:
        await ensure_topics(settings.bootstrap_servers, [HEALTH, DETECTIONS],
                            settings.kafka_partitions, options=client_options(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from kuzet.wiring import build_incident_app
        from streams.camera_watch import camera_silences

        store = build_incident_app(settings)  # planned outages: silences by camera
        watcher = CameraWatcher(settings.bootstrap_servers, make_watch,
                                lambda: datetime.now(UTC),
                                group_id=f"{settings.consumer_group}.cameras",
                                client_options=client_options(settings),
                                load_silences=lambda now: camera_silences(
                                    store.silence_windows(now)))
        from kuzet.camera_view import keep_camera_view

        view = asyncio.create_task(keep_camera_view(settings, lambda: watcher.watch, stop))
        console.print(f"watching {HEALTH} at {settings.bootstrap_servers}: silent after "
                      f"{settings.camera_silent_after_s:g} s")
        try:
            await watcher.run(stop)
        finally:
            store.close()
        stop.set()
        await view  # the cameras view gets the last state
        console.print(f"stopped: {watcher.stats.records} health records, "
                      f"{watcher.stats.published} offline records published")

    from kuzet.health import serve_health

    health = serve_health("cameras watch", settings.health_port)  # /healthz, /metrics
    try:
        asyncio.run(main())
    finally:
        if health is not None:
            health.stop()


@cameras_app.command("list")
def list_(config: ConfigOpt = None,
          as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False
          ) -> None:
    """Every camera the health topic knows: online or down, last frame, last detection, and
    the counts by district (KUZET_SITES_PATH) — folded from kuzet.health.v1 as the watcher
    folds it."""
    import json

    from domain.camera_watch import by_district
    from domain.errors import InvalidHealthRecord
    from domain.health import parse_health
    from domain.topics import HEALTH
    from kuzet.kafka import read_topic
    from kuzet.wiring import load_routing_policy

    settings = load_settings(config)
    watch = CameraWatch(silent_after=timedelta(seconds=settings.camera_silent_after_s),
                        repeat_every=timedelta(seconds=settings.camera_repeat_s))
    for value in asyncio.run(read_topic(settings.bootstrap_servers, HEALTH)):
        try:
            watch.observe(parse_health(value))
        except InvalidHealthRecord:
            continue  # the watcher counts these; a list shows what is known
    now = datetime.now(UTC)
    sites = load_routing_policy(settings).sites

    def district(site_id: str | None) -> str | None:
        site = sites.get(site_id)
        return site.district if site else None

    rows = [{"source_id": s.source_id, "site_id": s.site_id, "district": district(s.site_id),
             "state": "down" if s.down(now, watch.silent_after) else "online",
             "last_frame_at": s.last_frame_at.isoformat() if s.last_frame_at else None,
             "last_detection_at": (s.last_detection_at.isoformat()
                                   if s.last_detection_at else None),
             "reason": s.offline_reason} for _, s in sorted(watch.sources.items())]
    districts = by_district(watch, now, district)
    if as_json:
        console.print_json(json.dumps({"cameras": rows, "by_district": districts}))
        return
    for r in rows:
        console.print(f"{r['source_id']:<24} {r['state']:<7} {r['district'] or '-':<14} "
                      f"frame {r['last_frame_at'] or '-'}  detection "
                      f"{r['last_detection_at'] or '-'}", highlight=False)
    for name, counts in districts.items():
        console.print(f"district {name}: {counts['online']} online, {counts['down']} down",
                      highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(cameras_app, name="cameras")
