"""Hypothesis strategies for hostile detection records (issue 10), shared by the unit property
over parse + pure correlation and the integration fuzz through the real stores.

A record starts valid (any kind, near `now`) and gets up to three mutations: a field set to a
hostile value (lone surrogates, control characters, empty and whitespace keys, plates with no
letter or digit, huge strings, NaN and infinities, 64-bit+ integers, deep nesting, wrong types,
extreme or skewed dates), a leading byte-order mark, or a duplicate `detection_id` carrying other
content. Records are serialised the way a careless producer would: `json.dumps` with NaN allowed
and surrogates escaped (`"\\ud800"`), which is exactly what reached the worker in issue 10.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.helpers import record

BOM = b"\xef\xbb\xbf"
KINDS = ["fire", "smoke", "fire_alarm", "crowd", "fight", "weapon", "face_match", "plate_match",
         "person", "vehicle", "garbage_overflow", "illegal_dump", "waste_pickup", "road_defect",
         "canteen_count"]
FIELDS = ["detection_id", "source_id", "source_kind", "kind", "confidence", "observed_at",
          "site_id", "location", "bbox", "attributes", "snapshot", "model",
          "attributes.plate", "attributes.subject_id", "attributes.similarity",
          "attributes.count", "attributes.meal", "attributes.extra", "location.lat"]


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def hostile_values(now: datetime) -> st.SearchStrategy[Any]:
    years = st.integers(min_value=1, max_value=40).map(lambda n: timedelta(days=365 * n))
    return st.one_of(
        st.sampled_from([
            "\ud800", "ok\udfffok", "\x00", "", "   ", "!!! ---", "\u200b", "x" * 70_000,
            "x" * 129, float("nan"), float("inf"), float("-inf"), 10**30, -(10**20), True,
            None, [], {}, [1, 2, 3, 4], {"lat": "a", "lon": None}, _deep(20), _deep(3),
            "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00",
            "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00",
            "2026-02-30T00:00:00+00:00", "2026-11-26T10:00:00", "yesterday", 1.5, -0.1,
            "\ufeffcam", "cam\udc80", {"\ud800": 1},
        ]),
        years.map(lambda d: (now + d).isoformat()),
        years.map(lambda d: (now - d).isoformat()),
        st.integers(min_value=6, max_value=600).map(
            lambda m: (now + timedelta(minutes=m)).isoformat()),
        st.text(max_size=20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(),
    )


def _set(rec: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        rec[head] = value
        return
    inner = rec.get(head)
    if not isinstance(inner, dict):
        inner = rec[head] = {}
    inner[rest] = value


def _base(kind: str, now: datetime, seconds: float, site: int, source: int,
          det_id: uuid.UUID) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if kind == "face_match":
        extra["attributes"] = {"subject_id": f"W-{site}", "similarity": 0.9}
    elif kind == "plate_match":
        extra["attributes"] = {"plate": f"A {site}23 BC"}
    elif kind == "canteen_count":
        extra["attributes"] = {"count": 40 + site, "meal": "lunch"}
    elif kind == "road_defect":
        extra["location"] = {"lat": 43.2 + site * 0.01, "lon": 76.9}
    return record(kind, source=f"cam-{source}", site=f"site-{site}", conf=0.9, at=now,
                  seconds=-seconds, det_id=str(det_id), **extra)


@st.composite
def hostile_record(draw: st.DrawFn, now: datetime) -> dict[str, Any]:
    """One record as a dict (maybe valid, maybe hostile in up to three places)."""
    rec = _base(draw(st.sampled_from(KINDS)), now, draw(st.floats(0, 60)),
                draw(st.integers(0, 3)), draw(st.integers(0, 3)), draw(st.uuids(version=4)))
    for _ in range(draw(st.integers(0, 3))):
        _set(rec, draw(st.sampled_from(FIELDS)), draw(hostile_values(now)))
    return rec


def encode(rec: dict[str, Any], *, bom: bool = False) -> bytes:
    """As a careless producer sends it: NaN tokens allowed, surrogates as `\\ud800` escapes."""
    raw = json.dumps(rec, allow_nan=True).encode()
    return BOM + raw if bom else raw


@st.composite
def hostile_stream(draw: st.DrawFn, now: datetime, max_size: int = 30) -> list[bytes]:
    """A stream of raw records: hostile ones, valid ones, BOMs, and reused ids with other
    content (a record's `detection_id` on a different record)."""
    recs = draw(st.lists(hostile_record(now), min_size=1, max_size=max_size))
    out = []
    for drawn in recs:
        rec = drawn
        if out and draw(st.integers(0, 5)) == 0:  # reuse an earlier id with this content
            earlier = json.loads(out[draw(st.integers(0, len(out) - 1))].removeprefix(BOM))
            if isinstance(earlier, dict) and "detection_id" in earlier:
                rec = {**drawn, "detection_id": earlier["detection_id"]}
        if out and draw(st.integers(0, 7)) == 0:  # a plain redelivery (same bytes)
            out.append(out[-1])
        out.append(encode(rec, bom=draw(st.integers(0, 15)) == 0))
    return out
