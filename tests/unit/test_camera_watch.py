"""Camera health as pure state: silence detection, deterministic offline records, any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.camera_watch import CameraWatch, PlannedSilence
from domain.detection import detection_to_dict, validate_detection_dict
from domain.health import HealthRecord, HealthStatus
from domain.kinds import Kind, SourceKind

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def beat(at: int, *, source: str = "cam-1", frames: int = 25, detections: int = 0,
         status: HealthStatus = HealthStatus.HEARTBEAT, reason: str | None = None
         ) -> HealthRecord:
    return HealthRecord(source, SourceKind.CAMERA, status, T0 + at * S, site_id="yard-3",
                        frames=frames, detections=detections, reason=reason)


def watch(*records: HealthRecord, silences: tuple[PlannedSilence, ...] = ()) -> CameraWatch:
    w = CameraWatch(silent_after=120 * S, repeat_every=60 * S, silences=silences)
    for r in records:
        w.observe(r)
    return w


def test_a_source_with_frames_is_never_due() -> None:
    w = watch(*(beat(t) for t in range(0, 600, 10)))
    assert w.due(T0 + 600 * S) == []
    assert not w.is_down("cam-1", T0 + 600 * S)


def test_silence_past_the_threshold_yields_one_record_per_repeat() -> None:
    w = watch(beat(0), beat(10, detections=2), beat(20))
    assert w.due(T0 + 139 * S) == []  # 119 s since the last frame
    first = w.due(T0 + 140 * S)
    assert len(first) == 1 and w.is_down("cam-1", T0 + 140 * S)
    d = first[0]
    assert d.kind is Kind.CAMERA_OFFLINE and d.source_id == "cam-1" and d.site_id == "yard-3"
    assert d.observed_at == T0 + 140 * S and d.attributes["silent_s"] == 120
    assert w.due(T0 + 199 * S) == first  # same repeat: same id and time
    second = w.due(T0 + 200 * S)[0]
    assert second.detection_id != d.detection_id and second.observed_at == T0 + 200 * S
    assert validate_detection_dict(detection_to_dict(d)) == d  # a contract-valid record
    seen = w.sources["cam-1"]
    assert seen.last_frame_at == T0 + 20 * S and seen.last_detection_at == T0 + 10 * S


def test_zero_frames_and_offline_records_count_as_silence_and_frames_end_it() -> None:
    w = watch(beat(0), beat(10, frames=0), beat(20, status=HealthStatus.SOURCE_OFFLINE,
                                                 frames=0, reason="RTSP 401"))
    due = w.due(T0 + 120 * S)
    assert len(due) == 1 and due[0].attributes["reason"] == "RTSP 401"
    w.observe(beat(130))
    assert w.due(T0 + 140 * S) == []
    assert w.sources["cam-1"].offline_reason is None


def test_a_restarted_watcher_publishes_the_same_records() -> None:
    records = [beat(0), beat(5), beat(9, frames=0)]
    assert watch(*records).due(T0 + 500 * S) == watch(*reversed(records)).due(T0 + 500 * S)


def test_planned_silence_suppresses_the_outage() -> None:
    maintenance = PlannedSilence("cam-1", T0, T0 + 3600 * S)
    assert watch(beat(0), silences=(maintenance,)).due(T0 + 600 * S) == []
    assert len(watch(beat(0), silences=(maintenance,)).due(T0 + 3600 * S)) == 1


@settings(max_examples=60, deadline=None)
@given(st.permutations([beat(0), beat(10, detections=1), beat(20, frames=0),
                        beat(30, status=HealthStatus.SOURCE_OFFLINE, frames=0, reason="x"),
                        beat(25, source="cam-2"), beat(40, source="cam-2", frames=0)]),
       st.integers(min_value=0, max_value=400))
def test_state_and_records_do_not_depend_on_arrival_order(records: list[HealthRecord],
                                                          at: int) -> None:
    ordered = sorted(records, key=lambda r: r.observed_at)
    now = T0 + at * S
    assert watch(*records).sources == watch(*ordered).sources
    assert watch(*records).due(now) == watch(*ordered).due(now)
    assert watch(*records, *records).due(now) == watch(*ordered).due(now)  # redelivery


def test_counts_by_district() -> None:
    from domain.camera_watch import by_district

    w = watch(beat(0, source="cam-a"), beat(0, source="cam-b"), beat(200, source="cam-c"))
    district = {"yard-3": "almaly"}.get
    assert by_district(w, T0 + 201 * S, district) == {"almaly": {"online": 1, "down": 2}}
    assert by_district(w, T0 + 201 * S, lambda site: None) == {"-": {"online": 1, "down": 2}}
