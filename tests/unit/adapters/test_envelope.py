"""Records on an agency topic that are no CloudEvents envelope are parked, never fatal."""

from __future__ import annotations

import pytest

from adapters.envelope import parse_record


@pytest.mark.parametrize("raw", [
    b"[" * 100_000,  # nested past the JSON decoder's recursion limit
    b'{"id": "e1", "time": ' + b"[" * 100_000 + b"]",
    b"[]", b'"text"', b'{"id": "e1"}', b'{"id": 7, "time": "2026-11-26T10:00:00+00:00"}',
    b'{"id": "e1", "time": "yesterday"}', b"\xff\xfe",
])
def test_a_record_that_is_no_envelope_gets_a_problem_not_an_exception(raw: bytes) -> None:
    event = parse_record(raw)
    assert event.id is None and event.problem and event.raw == raw
