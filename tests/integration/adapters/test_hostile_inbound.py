"""Hostile signed reports at the inbound endpoint (issue 10): a lone surrogate escape used to
answer HTTP 500 (the store could not encode it). Now every such report is a typed 4xx that
names the field, nothing is written, and the endpoint keeps answering."""

from __future__ import annotations

from adapters.inbound import REJECTED
from tests.integration.adapters.test_inbound import World, post, report
from tests.integration.adapters.test_inbound import world as _world  # noqa: F401 (fixture)


def _rejected(stage: str, reason: str) -> float:
    return REJECTED.labels(stage=stage, reason=reason)._value.get()


async def test_a_lone_surrogate_anywhere_in_a_signed_report_is_a_422(world: World) -> None:
    before = _rejected("fields", "invalid_report")
    versions = world.app.incident(world.incident).version
    for hostile in (report(world, person="p-\ud800"), report(world, reason="\udfff x"),
                    {**report(world), "\ud800": "x"}):
        answer = await post(world, hostile)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "invalid_report"
        assert "surrogate" in answer.text
    assert _rejected("fields", "invalid_report") == before + 3
    assert world.app.incident(world.incident).version == versions
    ok = await post(world, report(world))
    assert ok.status_code == 201


async def test_a_report_with_nan_or_deep_nesting_is_refused_not_crashed(world: World) -> None:
    deep = b'{"a":' * 30 + b"1" + b"}" * 30
    raw = b'{"report_id": "r-9", "incident_id": "%s", "response": "accepted", "x": %s}'
    for extra in (b"NaN", deep):
        answer = await post(world, raw % (str(world.incident).encode(), extra))
        assert answer.status_code == 422, answer.text
