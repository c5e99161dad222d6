"""Stored event state (eventsourcing's JSON) straight to the JSON-safe fields `LogReader` gives.

`LogReader` has the mapper decode a state into objects (a JSON object hook turns each
`{"_type_": "datetime_iso", "_data_": "..."}` into a `datetime`, `uuid_hex` into a `UUID`,
`decimal_str` into a `Decimal`) and `json_safe` then turns them back into text. Here the same
result comes from the bytes: `datetime` → `fromisoformat(text).isoformat()`, `UUID` →
`str(UUID(text))`, `Decimal` stays a `Decimal` (as `json_safe` leaves it).

Two ways, one result. `splice_page` takes a whole page of states in the common shape
(eventsourcing's compact JSON, timestamp first, datetimes the only transcoded values) and
splices each datetime object into the text as its string, so each state is then one
`orjson.loads` (`fields_of`); `decode_state` parses any other state and decodes transcoded
values where they stand. Whatever neither can do exactly raises `NotFast` (or the `ValueError`,
`TypeError`... of the failed step, all in `NOT_FAST`): the caller then asks the mapper, which
decodes it or raises its own error. Two things orjson reads differently from `json` are kept
out: integers past 64 bits (orjson makes them floats; a number of 19 digits or more sends a
state to the mapper) and NaN/Infinity (orjson refuses them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from domain.log import ENVELOPE_FIELDS

__all__ = ["NOT_FAST", "Decoder", "NotFast", "decode_state", "decoders_of", "fields_of",
           "splice_page"]

Decoder = Callable[[Any], Any]
Fields = tuple[str, dict[str, Any]]
"""(timestamp as `LogEvent.timestamp`, the event's other fields as `LogEvent.data`)."""

_PLAIN = frozenset({str, int, float, bool, type(None)})
_OTHER_ENVELOPE = tuple(sorted(ENVELOPE_FIELDS - {"timestamp"}))


class NotFast(Exception):
    """Raised for a state this module does not decode itself: the mapper must."""


NOT_FAST = (NotFast, ValueError, TypeError, KeyError, ArithmeticError)
"""What sends a state to the mapper (orjson's errors are `ValueError`s, Decimal's arithmetic)."""


def _datetime(data: Any) -> str:
    if type(data) is not str:
        raise NotFast
    return datetime.fromisoformat(data).isoformat()


def _uuid(data: Any) -> str:
    if type(data) is not str:
        raise NotFast
    return str(UUID(data))


def _decimal(data: Any) -> Decimal:
    if type(data) not in (str, int, float):
        raise NotFast
    return Decimal(data)


_NATIVE: dict[type, Decoder] = {DatetimeAsISO: _datetime, UUIDAsHex: _uuid,
                                DecimalAsStr: _decimal}
"""eventsourcing's own transcodings, by exact class: another class registered under one of
their names may decode differently, so it is left to the mapper."""


def decoders_of(transcoder: JSONTranscoder) -> dict[str, Decoder]:
    """The transcoding names registered on `transcoder` that this module decodes itself."""
    return {name: _NATIVE[type(t)] for name, t in transcoder.names.items()
            if type(t) in _NATIVE}


# --- any state: parse, then decode each transcoded value where it stands -----------------------

_NUMBER_SHAPE = bytes.maketrans(b"123456789,[", b"000000000::")
_LONG_INTEGERS = (b":" + b"0" * 19, b":-" + b"0" * 19)


def _long_integer(text: bytes) -> bool:
    """True if a number token of 19+ digits may be in `text` (orjson turns integers past 64
    bits into floats). Each `,` or `[` reads as `:` and whitespace goes, so a number shows as
    `:` then digits; a string holding such a run only costs a trip to the mapper."""
    shape = text.translate(_NUMBER_SHAPE, b" \t\n\r")
    return _LONG_INTEGERS[0] in shape or _LONG_INTEGERS[1] in shape


def _value(value: Any, decoders: Mapping[str, Decoder]) -> Any:
    """A parsed JSON value (not plain) as `json_safe` gives the mapper's object for it."""
    if type(value) is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            decode = decoders.get(value["_type_"])
            if decode is None:
                raise NotFast
            return decode(value["_data_"])
        return {k: v if type(v) in _PLAIN else _value(v, decoders) for k, v in value.items()}
    if type(value) is list:
        return [v if type(v) in _PLAIN else _value(v, decoders) for v in value]
    return value


def _current(raw: dict[str, Any], version: int) -> None:
    """Drop the state's `class_version` if it is the class's own; an older one needs the
    mapper's upcasters (`NotFast`)."""
    if raw.pop("class_version", 1) != version:
        raise NotFast


def decode_state(state: bytes, decoders: Mapping[str, Decoder], version: int = 1) -> Fields:
    """(timestamp, fields) of one stored state, as `LogReader` gives them (unsealing aside);
    `version` is the event class's `class_version`."""
    if _long_integer(state):
        raise NotFast
    raw = orjson.loads(state)
    if type(raw) is not dict or (len(raw) == 2 and "_type_" in raw and "_data_" in raw):
        raise NotFast  # a state that is itself one transcoded value
    _current(raw, version)
    stamp = raw.get("timestamp")
    if not isinstance(stamp, dict) or stamp.get("_type_") != "datetime_iso":
        raise NotFast  # the mapper's event would have no datetime `timestamp`
    timestamp = _value(stamp, decoders)
    if type(timestamp) is not str:
        raise NotFast
    fields = {k: v if type(v) in _PLAIN else _value(v, decoders)
              for k, v in raw.items() if k not in ENVELOPE_FIELDS}
    return timestamp, fields


# --- a page in the common shape: datetimes spliced in as text, then one parse per state ---------

_SEP = b"\x00"  # JSON text never holds a raw NUL, not even inside a string
_STAMPED = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'
_DATETIME = re.compile(rb'\{"_type_":"datetime_iso","_data_":"([^"\\\x00]*)"\}')


class _Canonical(dict[bytes, bytes]):
    """Stored datetime text → its JSON string as `json_safe` gives it (the text of
    `fromisoformat(text).isoformat()`); bounded; a miss parses (bad text: ValueError)."""

    def __missing__(self, text: bytes) -> bytes:
        if len(self) > 65_536:
            self.clear()
        found = self[text] = b'"%s"' % datetime.fromisoformat(text.decode()).isoformat().encode()
        return found


_ISO = _Canonical()


def splice_page(states: Sequence[bytes]) -> list[bytes] | None:
    """Each state with its datetime objects replaced by their strings, or None unless every
    state has the common shape: compact JSON starting with a datetime timestamp, named once,
    no other transcoded value, no escaped key spelling, no integer of 19 digits or more.

    The page is joined with NUL bytes so each check and the splice run once over the page;
    a datetime match cannot span two states (NUL is in no part of the pattern).
    """
    n = len(states)
    joined = _SEP.join(states)
    if (n == 0 or not joined.startswith(_STAMPED) or joined.count(_SEP + _STAMPED) != n - 1
            or joined.count(b'"timestamp"') != n or _long_integer(joined)
            or (b"\\" in joined and b"\\u" in joined)):
        return None
    parts = _DATETIME.split(joined)
    if joined.count(b'"_type_"') != len(parts) >> 1:
        return None  # a transcoded value other than a compact datetime object
    try:
        parts[1::2] = map(_ISO.__getitem__, parts[1::2])
    except ValueError:
        return None  # a datetime that does not parse: the mapper raises for that event
    spliced = b"".join(parts).split(_SEP)
    return spliced if len(spliced) == n else None  # a NUL inside a state: not JSON


def fields_of(spliced: bytes, version: int = 1) -> Fields:
    """(timestamp, fields) of one state from `splice_page` (`version`: as `decode_state`)."""
    raw = orjson.loads(spliced)
    _current(raw, version)
    timestamp = raw.pop("timestamp")
    for name in _OTHER_ENVELOPE:
        raw.pop(name, None)
    return timestamp, raw
