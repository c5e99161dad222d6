"""The correlator's silence gate: detections under a silence open nothing and are counted.

Before correlating a batch, the engine asks the gate which detections a silence covers
(`domain.silences.covering`, by the detection's observed time, its camera, site, the site's
district and its kind). Those skip correlation entirely — no incident opened, reopened or fed —
and are counted on their silence (`SilencedDetections`, idempotent by detection id); their
tokens settle once the count is stored, so a crash before that redelivers them and they are
counted once. Kinds that never open incidents (canteen counts, pickups) are not silenced:
they feed tallies, not alerts.

The gate keeps the silences not yet over (`IncidentApp.silence_windows`) and reloads them every
`refresh` (5 s): a silence created or ended through the API takes effect within that.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Generic, TypeVar
from uuid import UUID

from domain.application import IncidentApp
from domain.detection import Detection
from domain.silences import SilenceWindow, covering
from streams.errors import is_infrastructure

__all__ = ["SilenceGate"]

log = logging.getLogger("kuzet.streams.silences")
T = TypeVar("T")


class SilenceGate(Generic[T]):
    def __init__(self, app: IncidentApp, refresh: timedelta = timedelta(seconds=5)) -> None:
        self.app = app
        self.refresh = refresh
        self.windows: list[SilenceWindow] = []
        self.loaded_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        return self.loaded_at is None or now - self.loaded_at >= self.refresh

    def load(self, now: datetime) -> None:
        """(store thread) The silences not over at `now`; on a refusal the old ones stay."""
        try:
            self.windows = self.app.silence_windows(now)
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            log.warning("silences not reloaded: %s: %s", type(exc).__name__, exc)
        self.loaded_at = now

    def _district(self, site_id: str | None) -> str | None:
        site = self.app.routing.sites.get(site_id)
        return site.district if site is not None else None

    def split(self, items: Sequence[tuple[Detection, T]]
              ) -> tuple[list[tuple[Detection, T]], dict[UUID, list[tuple[Detection, T]]]]:
        """(items to correlate, items held back per silence)."""
        if not self.windows:
            return list(items), {}
        kinds = self.app.rules.kinds
        out: list[tuple[Detection, T]] = []
        held: dict[UUID, list[tuple[Detection, T]]] = {}
        for det, token in items:
            rule = kinds.get(det.kind)
            window = None if rule is None or not rule.incident else covering(
                self.windows, source_id=det.source_id, site_id=det.site_id,
                kind=det.kind.value, at=det.observed_at, district_of=self._district)
            if window is None:
                out.append((det, token))
            else:
                held.setdefault(window.silence_id, []).append((det, token))
        return out, held

    def write(self, held: dict[UUID, list[tuple[Detection, T]]], now: datetime
              ) -> dict[UUID, BaseException]:
        """(store thread) Count each silence's detections; the failures, per silence."""
        failed: dict[UUID, BaseException] = {}
        for silence_id, pairs in held.items():
            try:
                self.app.record_silenced(
                    silence_id, [(d.detection_id, d.kind.value) for d, _ in pairs], now)
            except Exception as exc:
                if is_infrastructure(exc):
                    raise
                failed[silence_id] = exc
        return failed
