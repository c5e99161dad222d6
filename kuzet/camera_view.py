"""Keeps the read-model store's `cameras` view (`projections.views.cameras`) beside the camera
watcher: every `interval_s` it upserts the rows whose facts changed, once more at stop.

Runs inside `kuzet cameras watch` (the process that folds `kuzet.health.v1`), so the per-camera
state the API serves (`cameras(district:)`, the board's counts by district) is the watcher's
own fold; a store briefly unavailable is logged and written at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from domain.camera_watch import CameraWatch
from kuzet.settings import Settings

__all__ = ["keep_camera_view"]

log = logging.getLogger("kuzet.cameras")


async def keep_camera_view(settings: Settings, watch_of: Callable[[], CameraWatch],
                           stop: asyncio.Event, interval_s: float = 2.0) -> None:
    from kuzet.wiring import load_routing_policy
    from projections import SqliteStore
    from projections.store import ViewStore
    from projections.views.cameras import CAMERAS, write_cameras

    store: ViewStore
    if settings.read_model_url:
        from projections.postgres_store import PostgresStore

        store = await PostgresStore.connect(settings.read_model_url,
                                            timeout_s=settings.connect_timeout_s)
    else:
        store = SqliteStore(settings.ensure_data_dir() / "views.sqlite")
    sites = load_routing_policy(settings).sites

    def district(site_id: str | None) -> str | None:
        site = sites.get(site_id)
        return site.district if site else None

    written: dict[str, str] = {}
    try:
        await store.setup([CAMERAS])
        while True:
            try:
                await write_cameras(store, watch_of(), district, written)
            except Exception:  # the store may be briefly unavailable: the next write catches up
                log.exception("writing the cameras view failed")
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
    finally:
        await store.close()
