"""Silences and maintenance windows as a pure aggregate (issue 14 item 5): creation checks,
the state over time (pending, active, expired, ended early), ending twice refused, matching by
camera, site, district and kind at the detection's observed time, and the tally's idempotence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eventsourcing.application import Application

from domain.silences import (
    InvalidSilence,
    Silence,
    SilenceAlreadyEnded,
    SilenceBook,
    SilenceScope,
    covering,
    silence_id_for,
)
from tests.helpers import T0

H = timedelta(hours=1)
S = timedelta(seconds=1)


def silence(scope: str = "camera", value: str = "cam-9", start: timedelta = H,
            hours: int = 2) -> Silence:
    return Silence.start(scope=scope, value=value, starts_at=T0 + start,
                         ends_at=T0 + start + hours * H, author="sup", reason="works", at=T0)


@pytest.mark.parametrize(("field", "kwargs"), [
    ("scope", {"scope": "street"}),
    ("value", {"value": ""}),
    ("value", {"scope": "kind", "value": "dragons"}),
    ("ends_at", {"hours": 0}),
    ("ends_at", {"hours": 24 * 40}),
    ("ends_at", {"start": -3 * H}),
])
def test_invalid_silences_are_refused_naming_the_field(field: str, kwargs: dict) -> None:
    with pytest.raises(InvalidSilence, match=field):
        silence(**kwargs)


def test_reason_and_author_are_required() -> None:
    with pytest.raises(InvalidSilence, match="reason"):
        Silence.start(scope="kind", value="fire", starts_at=T0, ends_at=T0 + H, author="sup",
                      reason=" ", at=T0)
    with pytest.raises(InvalidSilence, match="author"):
        Silence.start(scope="kind", value="fire", starts_at=T0, ends_at=T0 + H, author="",
                      reason="x", at=T0)


def test_state_over_time_and_an_early_end() -> None:
    s = silence()
    assert [s.state(T0 + t) for t in (0 * H, H, 3 * H)] == ["pending", "active", "expired"]
    assert s.id == silence_id_for("camera", "cam-9", T0 + H, "sup")
    s.end(actor="sup2", reason="done", at=T0 + 90 * 60 * S)
    assert s.state(T0 + 2 * H) == "ended" and s.until == T0 + 90 * 60 * S
    assert s.ended_by == "sup2"
    with pytest.raises(SilenceAlreadyEnded):
        s.end(actor="sup2", reason="again", at=T0 + 2 * H)
    expired = silence()
    with pytest.raises(SilenceAlreadyEnded):  # it ended on its own
        expired.end(actor="sup", reason="", at=T0 + 4 * H)


def test_matching_by_scope_at_the_observed_time() -> None:
    windows = [silence("camera", "cam-9").window(), silence("site", "yard-3").window(),
               silence("district", "almaly").window(), silence("kind", "crowd").window()]
    district = {"market-7": "almaly"}.get

    def hit(source: str, site: str | None, kind: str, at: timedelta) -> str | None:
        w = covering(windows, source_id=source, site_id=site, kind=kind, at=T0 + at,
                     district_of=district)
        return w.scope.value if w else None

    assert hit("cam-9", None, "fire", 2 * H) == "camera"
    assert hit("cam-1", "yard-3", "fire", 2 * H) == "site"
    assert hit("cam-1", "market-7", "fire", 2 * H) == "district"
    assert hit("cam-1", "park-2", "crowd", 2 * H) == "kind"
    assert hit("cam-1", "park-2", "fire", 2 * H) is None
    assert hit("cam-9", None, "fire", 30 * 60 * S) is None  # observed before it started
    assert hit("cam-9", None, "fire", 3 * H) is None  # after it expired
    assert {w.scope for w in windows} == set(SilenceScope)


def test_the_tally_counts_each_detection_once_and_replays() -> None:
    s = silence()
    assert s.count_detections(detections=[("d1", "fire"), ("d2", "fire")], at=T0 + 2 * H)
    assert not s.count_detections(detections=[("d1", "fire")], at=T0 + 2 * H)
    assert s.count_detections(detections=[("d1", "fire"), ("d3", "smoke")], at=T0 + 2 * H)
    assert (s.count, s.by_kind) == (3, {"fire": 2, "smoke": 1})
    book = SilenceBook(timestamp=T0)
    assert book.add(silence=s, at=T0) and not book.add(silence=s, at=T0)
    assert book.current(T0 + 2 * H) == [s.id] and book.current(T0 + 4 * H) == []
    app: Application = Application()
    app.save(s, book)
    back = app.repository.get(s.id)
    assert (back.count, back.by_kind, back.detection_ids) == (3, s.by_kind, s.detection_ids)
