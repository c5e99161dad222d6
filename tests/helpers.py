"""Test data builders shared by unit and integration tests (real contract, no doubles)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from domain.detection import Detection, validate_detection_dict
from domain.rules import RuleSet, load_rules

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def default_rules() -> RuleSet:
    return load_rules(resources.files("domain").joinpath("rules.toml").read_text())


def record(kind: str = "fire", *, source: str = "cam-1", conf: float = 0.9,
           at: datetime = T0, site: str | None = "site-1", seconds: float = 0,
           det_id: str | None = None, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "detection_id": det_id or str(uuid.uuid4()),
        "source_id": source,
        "source_kind": "sensor" if kind == "fire_alarm" else "camera",
        "kind": kind,
        "confidence": conf,
        "observed_at": (at + timedelta(seconds=seconds)).isoformat(),
    }
    if site is not None:
        rec["site_id"] = site
    rec.update(extra)
    return rec


def det(kind: str = "fire", **kw: Any) -> Detection:
    return validate_detection_dict(record(kind, **kw))
