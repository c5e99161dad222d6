"""Export → replay on real chained stores (SQLite and PostgreSQL): the export is the stored
form with an unbroken chain of its own, and replaying it reproduces the live views' digests."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from audit.chain import from_us, link_hash
from audit.export import ExportError, Selection, export, read_export
from audit.replay import replay_export
from domain.application import IncidentApp
from eventstore.log import chain_of
from projections import ProjectionRunner, SqliteStore, all_views
from projections.views import View
from tests.helpers import T0
from tests.integration.projections.scenario import SITES

pytestmark = pytest.mark.postgres
VIEWS: list[View] = all_views(SITES, 5)
ALL = Selection()


def _export(app: IncidentApp, sel: Selection = ALL) -> list[str]:
    out = io.StringIO()
    export(chain_of(app), out, sel, T0)
    return out.getvalue().splitlines()


def _replay(app: IncidentApp, lines: list[str], tmp: Path):
    return asyncio.run(replay_export(lines, app, VIEWS, tmp))


async def _live_digests(app: IncidentApp, tmp: Path) -> dict[str, str]:
    """What `kuzet projections rebuild` computes on the live store."""
    from domain.log import LogReader

    runner = ProjectionRunner(LogReader(app), SqliteStore(tmp / "live-views.sqlite"), VIEWS)
    await runner.setup()
    try:
        return {v.name: (await runner.rebuild(v.name)).digest for v in VIEWS}
    finally:
        await runner.store.close()


def test_a_full_export_replays_to_the_live_views_digests(scenario_app: IncidentApp,
                                                         tmp_path: Path) -> None:
    lines = _export(scenario_app)
    header, trailer = json.loads(lines[0]), json.loads(lines[-1])
    head = scenario_app.recorder.max_notification_id()
    assert (header["first_position"], header["last_position"], trailer["events"]) == (1, head, head)
    stored = scenario_app.recorder.select_notifications(1, 1000)
    exported = [json.loads(line) for line in lines[1:-1]]
    assert [base64.b64decode(e["state"]) for e in exported] == [n.state for n in stored]
    result = _replay(scenario_app, lines, tmp_path)
    assert result.equal and result.events == head
    live = asyncio.run(_live_digests(scenario_app, tmp_path))
    assert {v.view: v.replayed for v in result.views} == live
    assert {v.view: v.rows > 0 for v in result.views} == dict.fromkeys(live, True)


def test_an_incident_export_carries_links_between_its_events(scenario_app: IncidentApp,
                                                             tmp_path: Path) -> None:
    fire = next(i for i in scenario_app.incidents() if i.incident_key == "fire:site=market-7")
    lines = _export(scenario_app, Selection(incident=fire.id))
    kinds = [json.loads(line)["type"] for line in lines]
    events = [json.loads(line) for line in lines if json.loads(line)["type"] == "event"]
    assert {e["originator_id"] for e in events} == {str(fire.id)}
    assert len(events) == fire.version and "link" in kinds
    result = _replay(scenario_app, lines, tmp_path)
    assert result.equal and result.events == fire.version
    board = next(v for v in result.views if v.view == "board")
    assert board.rows == 1  # just this incident


def test_a_time_range_export_is_the_positions_recorded_in_it(scenario_app: IncidentApp,
                                                             tmp_path: Path) -> None:
    chain = chain_of(scenario_app)
    head = chain.chain_head()
    assert head is not None
    cut = from_us(head.recorded_at_us) + timedelta(milliseconds=10)
    incident = next(scenario_app.incidents())
    asyncio.run(asyncio.sleep(0.02))  # the next transaction is recorded after `cut`
    scenario_app.add_note(incident.id, text="later", by="op-9", at=T0)
    lines = _export(scenario_app, Selection(since=cut))
    header = json.loads(lines[0])
    assert header["first_position"] == header["last_position"] == head.position + 1
    assert header["prev_position"] == head.position and header["prev_hash"] == head.hash.hex()
    assert _replay(scenario_app, lines, tmp_path).equal
    before = _export(scenario_app, Selection(until=cut))
    assert json.loads(before[-1])["last_position"] == head.position


def _rehash(lines: list[str], start: int) -> list[str]:
    """Recompute the links of the event lines from index `start` on (a consistent forgery)."""
    out = lines[:start]
    prev = json.loads(lines[start])
    prev_position, prev_hash = prev["prev_position"], bytes.fromhex(prev["prev_hash"])
    for line in lines[start:-1]:
        e = json.loads(line)
        digest = link_hash(prev_hash, e["position"], prev_position, e["recorded_at_us"],
                           e["originator_id"], e["originator_version"], e["topic"],
                           base64.b64decode(e["state"]))
        e.update(prev_position=prev_position, prev_hash=prev_hash.hex(), hash=digest.hex())
        out.append(json.dumps(e))
        prev_position, prev_hash = e["position"], digest
    trailer = json.loads(lines[-1])
    trailer["last_hash"] = prev_hash.hex()
    return [*out, json.dumps(trailer)]


def _acknowledged_line(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines)
                if json.loads(line).get("topic", "").endswith("Incident.Acknowledged"))


def test_a_changed_export_fails_its_own_chain_and_a_forged_one_fails_the_comparison(
        scenario_app: IncidentApp, tmp_path: Path) -> None:
    lines = _export(scenario_app)
    i = _acknowledged_line(lines)
    event = json.loads(lines[i])
    state = json.loads(base64.b64decode(event["state"]))
    state["timestamp"] = {"_type_": "datetime_iso", "_data_": "2026-11-26T13:00:00+00:00"}
    event["state"] = base64.b64encode(json.dumps(state).encode()).decode()
    edited = [*lines[:i], json.dumps(event), *lines[i + 1:]]
    with pytest.raises(ExportError, match=f"line {i + 1} .*edited"):
        _replay(scenario_app, edited, tmp_path)
    with pytest.raises(ExportError, match="does not link"):
        _replay(scenario_app, [*lines[:i], *lines[i + 1:]], tmp_path)
    with pytest.raises(ExportError, match="truncated"):
        _replay(scenario_app, lines[:-1], tmp_path)
    forged = _replay(scenario_app, _rehash(edited, i), tmp_path)  # chain holds, views differ
    assert not forged.equal
    assert not next(v for v in forged.views if v.view == "board").equal


def test_an_export_of_an_empty_range_is_valid_and_empty(scenario_app: IncidentApp,
                                                        tmp_path: Path) -> None:
    lines = _export(scenario_app, Selection(until=T0 - timedelta(days=400)))
    header, events = read_export(lines)
    assert list(events) == [] and header.last_position == 0
