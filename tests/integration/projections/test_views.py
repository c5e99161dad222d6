"""Contract: every view after the scenario, on SQLite and PostgreSQL; rebuild == live."""

from __future__ import annotations

import asyncio
import json

from projections.views.board import counts, open_rows
from projections.views.zhkkh import summary
from tests.integration.projections.conftest import runner_for
from tests.integration.projections.scenario import PERSONAL


def _by(rows, field="kind"):
    return sorted((r.get(field), r["status"]) for r in rows.values())


async def test_views_hold_exactly_the_expected_rows(scenario_app, view_store) -> None:
    runner = runner_for(scenario_app, view_store, batch=7)
    await runner.setup()
    await runner.catch_up()
    assert await runner.lag() == dict.fromkeys(("board", "police", "zhkkh", "education"), 0)

    board = await runner.rows("board")
    assert _by(board) == [("crowd", "AUTO_RESOLVED"), ("face_match", "OPEN"), ("fire", "OPEN"),
                          ("fire", "RESOLVED"), ("illegal_dump", "OPEN"),
                          ("plate_match", "OPEN")]  # waste one closed
    face = next(r for r in board.values() if r["kind"] == "face_match")
    assert (face["assignee"], face["evidence_count"], face["sources"]) == (
        "op-2", 4, ["cam-10", "cam-11", "cam-12"])
    assert len(open_rows(board.values())) == 4
    assert counts(board.values())["by_kind"] == {"fire": 2, "crowd": 1, "face_match": 1,
                                                 "plate_match": 1, "illegal_dump": 1}
    dump = next(r for r in board.values() if r["kind"] == "illegal_dump")
    assert dump["sources"] == ["appeal-A-118734", "cam-21"]  # the appeal came first

    police = await runner.rows("police")
    assert _by(police) == [("crowd", "AUTO_RESOLVED"), ("face_match", "OPEN"),
                           ("plate_match", "OPEN")]
    face = next(r for r in police.values() if r["kind"] == "face_match")
    assert face["subject"] == {"subject_id": "W-1042"}
    assert sorted(face["sightings"]) == ["cam-10", "cam-11", "cam-12"]
    assert face["snapshots"] == ["s3://evidence/f1.jpg"]

    zhkkh = await runner.rows("zhkkh")
    (order,) = [r for r in zhkkh.values() if r["kind"] == "garbage_overflow"]
    assert sorted(r["kind"] for r in zhkkh.values()) == ["garbage_overflow", "illegal_dump"]
    assert (order["kind"], order["status"], order["district"], order["contractor"]) == (
        "garbage_overflow", "CLOSED", "bostandyk", "tazalyk-2")
    assert order["time_to_clear_s"] == 30 + 40 * 60 and order["sla_met"] is True
    assert summary(zhkkh.values())[("bostandyk", "tazalyk-2")]["sla_compliance"] == 1.0

    education = await runner.rows("education")
    got = sorted((r["type"], r.get("meal") or r["kind"], r.get("attendance"), r["school"])
                 for r in education.values())
    assert got == [("canteen", "breakfast", None, "School No. 12"),  # 3 < k: suppressed
                   ("canteen", "lunch", 122, "School No. 12"),
                   ("safety", "fire", None, "School No. 12")]

    for name in ("zhkkh", "education", "board"):
        text = json.dumps(await runner.rows(name))
        assert not [p for p in PERSONAL if p in text], name


async def test_rebuild_then_verify_reports_equality(scenario_app, view_store) -> None:
    runner = runner_for(scenario_app, view_store, batch=5)
    await runner.setup()
    await runner.catch_up()
    live = {name: await runner.rows(name) for name in runner.views}
    for name in runner.views:
        rebuilt = await runner.rebuild(name)
        assert rebuilt.position == scenario_app.recorder.max_notification_id()
        assert await runner.rows(name) == live[name]
        verified = await runner.verify(name)
        assert verified.equal and verified.live == rebuilt.digest
    await runner.step()  # the live runner carries on from the swapped-in table
    first = scenario_app.incident(next(scenario_app.incident_ids()))
    scenario_app.add_note(first.id, text="after the rebuild", by="op-9", at=first.opened_at)
    await runner.catch_up()
    for name in runner.views:
        assert (await runner.verify(name)).equal


async def test_rebuild_all_reads_once_and_equals_each_rebuild(scenario_app, view_store) -> None:
    runner = runner_for(scenario_app, view_store, batch=5)
    await runner.setup()
    await runner.catch_up()
    live = {name: await runner.rows(name) for name in runner.views}

    class Counting:  # how often the log is read, page by page
        def __init__(self, source) -> None:  # type: ignore[no-untyped-def]
            self.source, self.pages = source, 0

        def head(self) -> int:
            return self.source.head()

        def read(self, start: int, limit: int):  # type: ignore[no-untyped-def]
            self.pages += 1
            return self.source.read(start, limit)

    runner.source = counting = Counting(runner.source)
    rebuilt = await runner.rebuild_all()
    assert {r.view for r in rebuilt} == set(runner.views)
    head = scenario_app.recorder.max_notification_id()
    assert counting.pages == -(-head // (runner.batch * 5))  # one pass for all the views
    for r in rebuilt:
        assert await runner.rows(r.view) == live[r.view]
        assert (await runner.verify(r.view)).live == r.digest


async def test_run_reports_lag_between_steps(scenario_app, view_store) -> None:
    runner = runner_for(scenario_app, view_store, batch=7)
    stop, seen = asyncio.Event(), []

    def on_lag(lags: dict[str, int]) -> None:
        seen.append(lags)
        if not any(lags.values()):
            stop.set()

    await asyncio.wait_for(runner.run(stop, idle_s=0.01, on_lag=on_lag), 30)
    assert seen[0]["board"] > 0 and seen[-1] == dict.fromkeys(runner.views, 0)
