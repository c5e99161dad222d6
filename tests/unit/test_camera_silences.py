"""Silences by camera become the camera watcher's planned silences (issue 14 item 5): the
watcher reloads them through its loader (here a plain function over silence windows, as the
composition root passes one over the event store) and a silenced camera's outage is not due.
No broker: `refresh_silences` and `due` never touch it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from uuid import uuid4

from domain.camera_watch import CameraWatch
from domain.silences import SilenceScope, SilenceWindow
from streams.camera_watch import CameraWatcher, camera_silences
from tests.unit.test_camera_watch import T0, beat


def window(scope: SilenceScope, value: str, hours: int = 1) -> SilenceWindow:
    return SilenceWindow(uuid4(), scope, value, T0, T0 + timedelta(hours=hours))


def test_only_camera_silences_apply_and_the_watcher_reloads_them() -> None:
    windows = [window(SilenceScope.CAMERA, "cam-1"), window(SilenceScope.SITE, "cam-2")]
    assert [s.source_id for s in camera_silences(windows)] == ["cam-1"]
    now = [T0 + timedelta(seconds=120)]
    loads: list[datetime] = []

    def load(at: datetime):  # type: ignore[no-untyped-def]
        loads.append(at)
        return camera_silences(windows)

    def make() -> CameraWatch:
        return CameraWatch(silent_after=timedelta(seconds=30), repeat_every=timedelta(seconds=60))

    watcher = CameraWatcher("127.0.0.1:1", make, lambda: now[0], load_silences=load,
                            silence_refresh_s=5)
    for source in ("cam-1", "cam-2"):
        watcher.watch.observe(beat(0, source=source))
    assert {d.source_id for d in watcher.watch.due(now[0])} == {"cam-1", "cam-2"}
    asyncio.run(watcher.refresh_silences())
    asyncio.run(watcher.refresh_silences())  # not due again within 5 s
    assert loads == [now[0]]
    assert [d.source_id for d in watcher.watch.due(now[0])] == ["cam-2"]
    watcher.forget({7})  # a rebalance rebuilds the watch: the silences stay
    assert watcher.watch.silences == camera_silences(windows)
    windows.clear()  # the silence ended: the next reload lets the outage through
    now[0] += timedelta(seconds=6)
    asyncio.run(watcher.refresh_silences())
    assert watcher.watch.silences == ()
