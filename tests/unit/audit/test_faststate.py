"""`eventstore.faststate` against the reference on states eventsourcing's own transcoder writes.

The reference is what `domain.log.LogReader` does to a state: eventsourcing's `JSONTranscoder`
(with the transcodings every `Application` registers) decodes it, then `json_safe` each field
and `timestamp.isoformat()`. The fast decoders must give exactly that, or refuse (`NOT_FAST`:
the reader then asks the mapper); never a different answer. And they must not refuse the
ordinary states our events are made of, or the fast path would be dead code.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.log import ENVELOPE_FIELDS, json_safe
from eventstore.faststate import NOT_FAST, decode_state, decoders_of, fields_of, splice_page

TRANSCODER = JSONTranscoder()
for _t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
    TRANSCODER.register(_t)
DECODERS = decoders_of(TRANSCODER)
REFUSED = "refused"
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def reference(state: bytes) -> Any:
    """What `LogReader` gives for `state` (timestamp, fields), or REFUSED if it raises."""
    try:
        decoded = TRANSCODER.decode(state)
        return (decoded["timestamp"].isoformat(),
                {k: json_safe(v) for k, v in decoded.items() if k not in ENVELOPE_FIELDS})
    except Exception:
        return REFUSED


def fast(state: bytes) -> Any:
    try:
        return decode_state(state, DECODERS)
    except NOT_FAST:
        return REFUSED


def spliced(states: list[bytes]) -> list[Any] | None:
    texts = splice_page(states)
    if texts is None:
        return None
    out: list[Any] = []
    for text in texts:
        try:
            out.append(fields_of(text))
        except NOT_FAST:
            out.append(REFUSED)
    return out


offsets = st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                                            max_value=timedelta(hours=23, minutes=59)))
datetimes = st.datetimes(timezones=st.one_of(st.none(), offsets, st.timezones()))
ordinary_datetimes = st.datetimes(timezones=st.just(UTC))
texts = st.text(max_size=12)
keys = st.one_of(st.sampled_from(["_type_", "_data_", "timestamp", "kind", "$sealed"]), texts)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    texts, datetimes, st.uuids(), st.decimals(allow_nan=False,
                                                              allow_infinity=False))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
ordinary_text = st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"],
                                      exclude_characters='\\'), max_size=12).filter(
    lambda t: t not in {"timestamp", "_type_"})  # the page splice counts these words
ordinary = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**17), 10**17), ordinary_text,
              ordinary_datetimes),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from("abcdef"), inner, max_size=4)),
    max_leaves=10)


def state_of(timestamp: datetime, fields: dict[str, Any]) -> bytes:
    return TRANSCODER.encode({"timestamp": timestamp, **fields})


@settings(max_examples=300, deadline=None)
@given(datetimes, st.dictionaries(keys, values, max_size=6))
def test_any_state_decodes_as_the_reference_does_or_is_refused(
        timestamp: datetime, fields: dict[str, Any]) -> None:
    state = state_of(timestamp, fields)
    expected, got = reference(state), fast(state)
    assert got in (REFUSED, expected)
    page = spliced([state, state])
    assert page is None or all(g in (REFUSED, expected) for g in page)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ordinary_datetimes, st.dictionaries(
    st.sampled_from(["kind", "count", "first_seen_at", "subject", "snapshots"]), ordinary,
    max_size=5)), min_size=1, max_size=5))
def test_ordinary_states_are_never_refused(events: list[tuple[datetime, dict[str, Any]]]
                                           ) -> None:
    """Compact JSON, timestamp first, datetimes as the only transcoded values: a whole page
    splices, and each state equals the reference (and the one-at-a-time path agrees)."""
    states = [state_of(t, f) for t, f in events]
    expected = [reference(s) for s in states]
    assert REFUSED not in expected
    assert spliced(states) == expected
    assert [fast(s) for s in states] == expected


@settings(max_examples=100, deadline=None)
@given(datetimes, st.uuids(), st.decimals(allow_nan=False, allow_infinity=False))
def test_uuids_decimals_and_any_offset_decode_without_the_mapper(
        timestamp: datetime, uuid: UUID, number: Decimal) -> None:
    state = state_of(timestamp, {"ids": [uuid], "amount": number, "at": {"x": timestamp}})
    assert fast(state) == reference(state) != REFUSED


@pytest.mark.parametrize("state", [
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00Z"},"a":1}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00.000000+00:00"}}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+05:30:00"}}',
    # an escaped key spelling, which the reference reads as a transcoded value too
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},'
    b'"at":{"\\u005ftype_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"}}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},'
    b'"at":{"_type_" : "datetime_iso", "_data_":"2026-11-26T10:00:00+00:00"}}',
])
def test_states_written_otherwise_come_out_as_the_reference_reads_them(state: bytes) -> None:
    """Not eventsourcing's own spelling: the page splice refuses what it cannot see through."""
    expected = reference(state)
    assert expected != REFUSED
    assert fast(state) == expected
    assert spliced([state]) in (None, [expected])


@pytest.mark.parametrize("state", [
    # what orjson reads differently from `json`: integers past 64 bits, NaN, Infinity
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},'
    b'"n":123456789012345678901234567890}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},"n":NaN}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},'
    b'"n":-Infinity}',
    # the same key twice, a transcoding nobody registered, upcasting, a plain timestamp
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},'
    b'"timestamp":"2026"}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},'
    b'"x":{"_type_":"set_list","_data_":[1]}}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},'
    b'"class_version":2}',
    b'{"timestamp":"2026-11-26T10:00:00+00:00"}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-13-26T10:00:00+00:00"}}',
    # a raw NUL (not JSON), also where it would look like the page's own separator
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},"a":"\x00"}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"},"a":"\x00'
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T10:00:00+00:00"}}"}',
])
def test_states_only_the_mapper_may_decode_are_refused(state: bytes) -> None:
    assert fast(state) == REFUSED
    assert spliced([state]) in (None, [REFUSED])


def test_the_reference_reads_big_integers_exactly_where_orjson_would_not() -> None:
    """Why 19 digits refuse: orjson turns 2**64 and beyond into floats (a silent change)."""
    import orjson

    big = 2**70
    assert type(orjson.loads(str(big))) is float
    assert reference(state_of(T0, {"n": big}))[1]["n"] == big
    assert math.isfinite(orjson.loads(str(big)))
