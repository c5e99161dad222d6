"""Per-camera state over GraphQL (issue 15 item 6): health records folded as the camera watcher
folds them (`domain.camera_watch`), written by `write_cameras` into a real SQLite read model,
served as `cameras(district:)` and `cameraCounts` to the situation centre, judged at request
time (online / offline / silent), and empty for agencies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.camera_watch import CameraWatch
from domain.health import HealthRecord, HealthStatus
from domain.kinds import SourceKind
from kuzet.settings import CHAINED_SQLITE
from projections.sqlite_store import SqliteStore
from projections.views.cameras import CAMERAS, write_cameras
from tests.e2e.api.harness import Server, running_server

S = timedelta(seconds=1)
DISTRICTS = {"yard-3": "almaly", "market-9": "almaly", "school-5": "medeu"}
CAMERAS_Q = """query($d: String) { cameras(district: $d) { sourceId district state siteId
  lastFrameAt lastDetectionAt offlineReason } }"""
COUNTS_Q = "{ cameraCounts { district online offline silent } }"


def _record(source: str, site: str, at: datetime, *, frames: int = 25, detections: int = 0,
            offline: bool = False) -> HealthRecord:
    status = HealthStatus.SOURCE_OFFLINE if offline else HealthStatus.HEARTBEAT
    return HealthRecord(source, SourceKind.CAMERA, status, at, site_id=site, frames=frames,
                        detections=detections, reason="rtsp timeout" if offline else None)


async def _write(path: Path, watch: CameraWatch) -> int:
    store = SqliteStore(path)
    try:
        await store.setup([CAMERAS])
        written: dict[str, str] = {}
        count = await write_cameras(store, watch, lambda s: DISTRICTS.get(s or ""), written)
        assert await write_cameras(store, watch, lambda s: DISTRICTS.get(s or ""), written) == 0
        return count
    finally:
        await store.close()


@pytest.fixture(scope="module")
def cameras_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("cameras")
    now = datetime.now(UTC)
    watch = CameraWatch(silent_after=120 * S, repeat_every=60 * S)
    for r in [_record("cam-live", "yard-3", now - 200 * S),
              _record("cam-live", "yard-3", now - 5 * S, detections=2),
              _record("cam-dark", "market-9", now - 600 * S),
              _record("cam-dark", "market-9", now - 300 * S, frames=0, offline=True),
              _record("cam-quiet", "school-5", now - 900 * S),
              _record("cam-quiet", "school-5", now - 10 * S, frames=0)]:
        watch.observe(r)
    assert asyncio.run(_write(folder / "views.sqlite", watch)) == 3
    env = {"PERSISTENCE_MODULE": CHAINED_SQLITE, "SQLITE_DBNAME": str(folder / "events.sqlite"),
           "PRIVACY_PEPPER": "cameras-pepper-0123456789"}
    with running_server(env, read_model=str(folder / "views.sqlite")) as server:
        yield server


def test_the_situation_centre_sees_each_camera_and_the_counts_by_district(
        cameras_server: Server) -> None:
    body = cameras_server.gql(CAMERAS_Q, {"d": None}, role="operator")
    assert "errors" not in body, body
    cams = {c["sourceId"]: c for c in body["data"]["cameras"]}
    assert {k: (c["state"], c["district"]) for k, c in cams.items()} == {
        "cam-dark": ("offline", "almaly"), "cam-live": ("online", "almaly"),
        "cam-quiet": ("silent", "medeu")}
    assert cams["cam-dark"]["offlineReason"] == "rtsp timeout"
    assert cams["cam-live"]["lastDetectionAt"] and cams["cam-quiet"]["lastFrameAt"]
    almaly = cameras_server.gql(CAMERAS_Q, {"d": "almaly"}, role="supervisor")
    assert sorted(c["sourceId"] for c in almaly["data"]["cameras"]) == ["cam-dark", "cam-live"]
    counts = cameras_server.gql(COUNTS_Q, role="auditor")["data"]["cameraCounts"]
    assert counts == [{"district": "almaly", "online": 1, "offline": 1, "silent": 0},
                      {"district": "medeu", "online": 0, "offline": 0, "silent": 1}]


def test_agencies_see_no_cameras(cameras_server: Server) -> None:
    for role in ("police", "zhkkh", "education"):
        token = cameras_server.token(role)
        assert cameras_server.gql(COUNTS_Q, token=token)["data"]["cameraCounts"] == []
        assert cameras_server.gql(CAMERAS_Q, token=token)["data"]["cameras"] == []
