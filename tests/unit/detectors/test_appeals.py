"""Citizens' appeals: validation, idempotent ids, files, the HTTP ingress (in-process ASGI),
and where an appeal correlates (its category's incidents, or one of its own)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from detectors.appeals import appeal_to_detection, create_appeal_app, read_appeals
from detectors.errors import AppealInputError
from domain.correlation import correlation_key
from domain.detection import Detection
from domain.errors import InvalidRules
from domain.kinds import Kind, SourceKind
from domain.rules import load_rules
from tests.helpers import default_rules, det

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
RULES = default_rules()
APPEAL = {"appeal_id": "A-118734", "category": "illegal_dump", "text": "Свалка за домом 12",
          "submitted_at": "2026-12-03T09:12:00+05:00", "site_id": "yard-3",
          "location": {"lat": 43.238, "lon": 76.945},
          "photo": {"uri": "https://portal/p/118734.jpg", "sha256": "ab" * 32}}


def test_an_appeal_becomes_a_citizen_report() -> None:
    d = appeal_to_detection(APPEAL, now=NOW)
    assert (d.kind, d.source_kind, d.confidence) == (Kind.CITIZEN_REPORT, SourceKind.CITIZEN, 1.0)
    assert dict(d.attributes) == {"appeal_id": "A-118734", "category": "illegal_dump",
                                  "text": "Свалка за домом 12"}
    assert d.site_id == "yard-3" and d.snapshot is not None and d.source_id == "appeal-A-118734"
    assert appeal_to_detection(dict(APPEAL), now=NOW).detection_id == d.detection_id
    bare = appeal_to_detection({"appeal_id": "A-1", "category": "broken_light"}, now=NOW)
    assert bare.observed_at == NOW


@pytest.mark.parametrize(("appeal", "problem"), [
    ({"category": "illegal_dump"}, "appeal_id"),
    ({"appeal_id": "A-1"}, "category"),
    ({"appeal_id": "A-1", "category": "x", "colour": "red"}, "colour: unknown field"),
    ({"appeal_id": "A-1", "category": "x", "submitted_at": "yesterday"}, "submitted_at"),
    ({"appeal_id": "A-1", "category": "x", "text": "\ud800"}, "lone surrogate"),
    ({"appeal_id": "A-1", "category": "x", "text": "x" * 4001}, "text"),
    ({"appeal_id": "A-1", "category": "x", "photo": {"uri": "u", "sha256": "no"}}, "photo"),
    ([APPEAL], "expected a JSON object"),
])
def test_bad_appeals_name_the_problem(appeal: object, problem: str) -> None:
    with pytest.raises(AppealInputError, match=problem):
        appeal_to_detection(appeal, now=NOW)


def test_an_appeal_joins_its_categorys_incidents_or_makes_its_own() -> None:
    dump = appeal_to_detection(APPEAL, now=NOW)
    camera = det("illegal_dump", source="cam-yard-3", site="yard-3", conf=0.9)
    assert correlation_key(dump, RULES) == correlation_key(camera, RULES) \
        == "illegal_dump:site=yard-3"
    light = appeal_to_detection({"appeal_id": "A-2", "category": "broken_light"}, now=NOW)
    assert correlation_key(light, RULES) == "citizen_report:source=appeal-A-2"
    fight = appeal_to_detection({**APPEAL, "appeal_id": "A-3", "category": "fight"}, now=NOW)
    assert RULES.group_kind(fight.kind, fight.attributes) is Kind.FIGHT
    assert "police" in [a.value for a in RULES.groups[Kind.FIGHT].agencies]


def test_rules_refuse_a_category_that_names_no_incident_kind() -> None:
    text = Path("domain/rules.toml").read_text() + '\nbroken = "meteor"\nmeals = "canteen_count"\n'
    with pytest.raises(InvalidRules) as caught:
        load_rules(text)
    assert "appeal_categories.broken" in str(caught.value)
    assert "appeal_categories.meals: canteen_count opens no incidents" in str(caught.value)


def test_files_jsonl_and_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "appeals.jsonl"
    jsonl.write_text(json.dumps(APPEAL, ensure_ascii=False) + "\n\n{broken\n")
    assert [n for n, _ in read_appeals(jsonl)] == [1, 3]
    csv_file = tmp_path / "appeals.csv"
    csv_file.write_text("appeal_id,category,text,submitted_at,site_id,lat,lon,photo_uri,"
                        "photo_sha256\nA-9,road_defect,Яма,2026-12-03T08:00:00+05:00,,43.2,"
                        "76.9,,\nA-10,road_defect,Яма,2026-12-03T08:00:00+05:00,,,,"
                        "https://portal/p/10.jpg,\n", encoding="utf-8")
    [(line, appeal), (_, photo_only)] = list(read_appeals(csv_file))
    d = appeal_to_detection(appeal, now=NOW)
    assert line == 2 and d.location is not None and d.location.lat == 43.2
    assert d.site_id is None and d.attributes["text"] == "Яма"
    photo = appeal_to_detection(photo_only, now=NOW).snapshot  # no digest: a reference only
    assert photo is not None and (photo.uri, photo.sha256) == ("https://portal/p/10.jpg", None)


async def test_the_http_ingress_publishes_good_lists_and_refuses_bad_ones() -> None:
    published: list[Detection] = []
    app = create_appeal_app(published.append, token="t0ken-for-the-portal")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://appeals") as client:
        auth = {"authorization": "Bearer t0ken-for-the-portal"}
        assert (await client.post("/appeals/v1", json=APPEAL)).status_code == 401
        ok = await client.post("/appeals/v1", headers=auth,
                               json=[APPEAL, {"appeal_id": "A-2", "category": "noise"}])
        assert ok.status_code == 202 and len(ok.json()["detection_ids"]) == 2
        bad = await client.post("/appeals/v1", headers=auth,
                                json=[APPEAL, {"appeal_id": "A-3"}])
        assert bad.status_code == 422 and list(bad.json()["errors"]) == ["1"]
        junk = await client.post("/appeals/v1", headers=auth, content=b"\xff\xfe")
        assert junk.status_code == 422
    assert [d.attributes["appeal_id"] for d in published] == ["A-118734", "A-2"]
