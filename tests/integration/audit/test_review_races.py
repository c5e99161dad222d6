"""Review findings on the chain and exports, on real SQLite and PostgreSQL stores.

* `verify` on a live store: events appended while the walk ends are growth, not a deletion.
* an export cut short (its trailer rewritten to match) or cut at the start (its header's
  `prev_*` rewritten to match) is refused by `read_export`, not read as complete.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from uuid import uuid4

import pytest

from audit.chain import BreakKind, ChainedEvent, Link, verify_chain
from audit.export import ExportError, Selection, export, read_export
from domain.application import IncidentApp
from domain.incident import Incident
from eventstore.log import ChainRecorder, chain_of
from tests.helpers import T0
from tests.integration.audit.conftest import Tamper

pytestmark = pytest.mark.postgres


class AppendWhenTheWalkEnds:
    """The real chained recorder, with one real append by the application made right after
    the walk's first empty page: the moment another writer's commit would race `verify`'s
    last look at the chain. (A wrapper only to place that commit deterministically; every
    read and the write go to the real store.)"""

    def __init__(self, app: IncidentApp) -> None:
        self.app, self.chain, self.appended = app, chain_of(app), False

    def read_chained(self, start: int, limit: int) -> Sequence[ChainedEvent]:
        page = self.chain.read_chained(start, limit)
        if not page and not self.appended:
            self.appended = True
            self.app.save(_incident(f"fire:{uuid4()}"))
        return page

    def links(self, start: int, stop: int | None = None) -> Sequence[Link]:
        return self.chain.links(start, stop)


def _incident(key: str) -> Incident:
    return Incident(incident_key=key, episode=0, kind="fire", severity=2, site_id="s",
                    location=None, source_ids=["c"], detection_ids=["d"], first_seen_at=T0,
                    last_seen_at=T0, sla_due_at=T0, agencies=[], subject={}, linked_to=None,
                    rule="r", actor="r", timestamp=T0, snapshots=[])


def test_an_append_racing_the_end_of_verify_is_not_a_deletion(
        scenario_app: IncidentApp) -> None:
    racing = AppendWhenTheWalkEnds(scenario_app)
    head = scenario_app.recorder.max_notification_id()
    result = verify_chain(racing, batch=50)
    assert racing.appended
    assert result.ok, result.broken
    assert result.last is not None and result.last.position > head  # the new event checked


def test_a_deleted_last_event_is_still_found(scenario_app: IncidentApp, tamper: Tamper) -> None:
    chain: ChainRecorder = chain_of(scenario_app)
    head = scenario_app.recorder.max_notification_id()
    tamper.sql("DELETE FROM {ev} WHERE {pos} = ?", head)
    broken = verify_chain(chain).broken
    assert broken is not None and (broken.kind, broken.position) == (BreakKind.DELETED, head)


def _export(app: IncidentApp, sel: Selection = Selection()) -> list[str]:  # noqa: B008
    out = io.StringIO()
    export(chain_of(app), out, sel, T0)
    return out.getvalue().splitlines()


def _consume(lines: list[str]) -> int:
    _, events = read_export(lines)
    return sum(1 for _ in events)


def test_an_export_cut_short_with_a_matching_trailer_is_refused(
        scenario_app: IncidentApp) -> None:
    lines = _export(scenario_app)
    body = [json.loads(x) for x in lines[1:-1]]
    kept = body[:-3]
    trailer = {"type": "trailer", "events": len(kept), "links": 0,
               "last_position": kept[-1]["position"], "last_hash": kept[-1]["hash"]}
    cut = [lines[0], *map(json.dumps, kept), json.dumps(trailer)]
    with pytest.raises(ExportError, match="ends at position"):
        _consume(cut)
    assert _consume(lines) == len(body)  # the whole export still reads


def test_an_export_cut_at_the_start_with_a_matching_header_is_refused(
        scenario_app: IncidentApp) -> None:
    lines = _export(scenario_app)
    header = json.loads(lines[0])
    body = [json.loads(x) for x in lines[1:-1]]
    kept = body[3:]
    header.update(prev_position=kept[0]["prev_position"], prev_hash=kept[0]["prev_hash"])
    trailer = json.loads(lines[-1]) | {"events": len(kept)}
    cut = [json.dumps(header), *map(json.dumps, kept), json.dumps(trailer)]
    with pytest.raises(ExportError, match="starts after"):
        _consume(cut)


def test_an_incident_export_still_reads(scenario_app: IncidentApp) -> None:
    incident = next(scenario_app.incidents()).id
    lines = _export(scenario_app, Selection(incident=incident))
    assert _consume(lines) == len(scenario_app.history(incident))
