"""Evidence images over real HTTP (issue 15 item 4): `GET /evidence/{incident}/{sha256}` serves
a real JPEG from the detectors' evidence store only to roles whose privacy policy keeps
snapshots for incidents routed to them; every other role and agency pair is refused with its
typed code; the file's sha256 is checked before it is served; each image served is in the
personal-data access log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from detectors.evidence import EvidenceStore
from kuzet.settings import CHAINED_SQLITE
from tests.e2e.api.harness import Server, open_incident, running_server

CASES = [  # (role, agency or default, expected status, expected code)
    ("police", None, 200, None),
    ("auditor", None, 200, None),
    ("operator", "police", 200, None),  # an operator in the police duty room
    ("operator", None, 403, "SNAPSHOTS_FORBIDDEN"),  # situation centre: masked
    ("supervisor", None, 403, "SNAPSHOTS_FORBIDDEN"),
    ("admin", None, 403, "SNAPSHOTS_FORBIDDEN"),
    ("zhkkh", None, 404, "EVIDENCE_NOT_FOUND"),  # not routed to it: as if absent
    ("education", None, 404, "EVIDENCE_NOT_FOUND"),
    ("operator", "emergency", 404, "EVIDENCE_NOT_FOUND"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, EvidenceStore,
                                                                      dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("evidence")
    env = {"PERSISTENCE_MODULE": CHAINED_SQLITE, "SQLITE_DBNAME": str(folder / "events.sqlite"),
           "PRIVACY_PEPPER": "evidence-pepper-0123456789"}
    store = EvidenceStore(folder / "evidence")
    frame = np.zeros((24, 32, 3), np.uint8)
    frame[6:18, 8:24] = (40, 90, 200)
    shots = [store.put(frame), store.put(255 - frame)]
    with running_server(env, evidence_dir=store.root, access_flush_s=0.05) as server:
        ids = {"plate": open_incident(server.app, "plate_match", attributes={"plate": "Z1"},
                                      snapshot={"uri": shots[0].uri, "sha256": shots[0].sha256}),
               "fire": open_incident(server.app, "fire",
                                     snapshot={"uri": shots[1].uri, "sha256": shots[1].sha256})}
        yield server, store, {"ids": ids, "shots": shots}


def _get(server: Server, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{server.url}{path}", headers=headers, timeout=10)


@pytest.mark.parametrize(("role", "agency", "status", "code"), CASES)
def test_each_role_gets_the_image_or_its_typed_refusal(
        stack: tuple[Server, EvidenceStore, dict[str, Any]], role: str, agency: str | None,
        status: int, code: str | None) -> None:
    server, store, seeded = stack
    shot = seeded["shots"][0]
    r = _get(server, f"/evidence/{seeded['ids']['plate']}/{shot.sha256}",
             server.token(role, agency=agency, subject=f"{role}-{agency}"))
    assert r.status_code == status, r.text
    if code is None:
        assert r.headers["content-type"] == "image/jpeg"
        assert r.content == store.path_of(shot.sha256).read_bytes()
        assert r.headers["cache-control"] == "private, no-store"
    else:
        assert r.json()["code"] == code


def test_refusals_before_and_after_the_policy(
        stack: tuple[Server, EvidenceStore, dict[str, Any]]) -> None:
    server, store, seeded = stack
    plate, fire = seeded["ids"]["plate"], seeded["ids"]["fire"]
    shot, other = seeded["shots"]
    police = server.token("police", subject="officer-3")
    assert _get(server, f"/evidence/{plate}/{shot.sha256}", None).json()["code"] == \
        "UNAUTHENTICATED"
    assert _get(server, f"/evidence/{plate}/{shot.sha256}", "not-a-token").status_code == 401
    assert _get(server, f"/evidence/{plate}/{'Z' * 64}", police).json()["code"] == \
        "BAD_EVIDENCE_REQUEST"
    assert _get(server, f"/evidence/not-a-uuid/{shot.sha256}", police).status_code == 400
    # the other image exists on disk, but this incident does not reference it
    assert _get(server, f"/evidence/{plate}/{other.sha256}", police).json()["code"] == \
        "EVIDENCE_NOT_FOUND"
    auditor = server.token("auditor", subject="aud-1")
    assert _get(server, f"/evidence/{fire}/{other.sha256}", auditor).status_code == 200
    path = store.path_of(other.sha256)
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one bit flipped
        r = _get(server, f"/evidence/{fire}/{other.sha256}", auditor)
        assert (r.status_code, r.json()["code"]) == (409, "EVIDENCE_DIGEST_MISMATCH")
        path.unlink()
        r = _get(server, f"/evidence/{fire}/{other.sha256}", auditor)
        assert (r.status_code, r.json()["code"]) == (410, "EVIDENCE_GONE")
    finally:
        path.write_bytes(original)


def test_each_image_served_is_in_the_access_log(
        stack: tuple[Server, EvidenceStore, dict[str, Any]]) -> None:
    server, _, seeded = stack
    plate, shot = seeded["ids"]["plate"], seeded["shots"][0]
    officer = server.token("police", subject="officer-evidence")
    assert _get(server, f"/evidence/{plate}/{shot.sha256}", officer).status_code == 200
    query = ('query($p: String) { personalDataAccess(principal: $p, first: 50) '
             '{ incident fields via } }')
    deadline, found = time.monotonic() + 20, []
    while not found and time.monotonic() < deadline:  # the log is written in batches
        body = server.gql(query, {"p": "officer-evidence"}, role="auditor")
        found = [e for e in body["data"]["personalDataAccess"] if e["via"] == "evidence"]
    assert found == [{"incident": str(plate), "fields": ["snapshots"], "via": "evidence"}]
