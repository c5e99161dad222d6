"""The fast decoder (`streams.fastdecode`) decides exactly as the domain's validator.

Hypothesis builds records from valid and invalid choices for every contract field (plus
unknown keys, nulls, escapes, duplicates); for each, the route hop's parse with the fast path
and the domain's validator alone must accept or refuse alike, with the same `Detection` (and
the same errors) — and the plain records the bench publishes must take the fast path.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.kinds import Kind, SourceKind
from streams.consumer import _parse, _parse_full, _reparse
from streams.fastdecode import fast_detection

MISSING = object()


def _maybe(*options: Any) -> st.SearchStrategy[Any]:
    return st.one_of(*(o if isinstance(o, st.SearchStrategy) else st.just(o) for o in options))


VALID_TIMES = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2998, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
                           timezones=st.sampled_from([UTC, timezone(timedelta(hours=5))]))
FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    # field: (valid values, invalid or unusual values: the domain's validator decides those)
    "detection_id": (st.uuids().map(str), _maybe(
        st.uuids().map(lambda u: str(u).upper()), st.uuids().map(lambda u: "{" + str(u) + "}"),
        st.uuids().map(lambda u: u.hex), "not-a-uuid", 123, None, MISSING)),
    "source_id": (_maybe("cam-1", "a" * 128, st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True)),
                  _maybe("", " ", "a" * 129, "kamera-ё", "x\x00y", "a\u200bb", "tab\tid", 5,
                         None, MISSING, st.text(max_size=12))),
    "source_kind": (st.sampled_from([k.value for k in SourceKind]),
                    _maybe("bogus", None, MISSING)),
    "kind": (st.sampled_from([k.value for k in Kind]), _maybe("bogus", None, MISSING)),
    "confidence": (_maybe(st.floats(0, 1), st.integers(0, 1)),
                   _maybe(st.floats(-0.5, 1.5), st.integers(-2, 2), st.booleans(), None, "0.5",
                          st.floats(allow_nan=False, allow_infinity=False), 1e400, MISSING)),
    "observed_at": (_maybe(VALID_TIMES.map(lambda d: d.isoformat()),
                           VALID_TIMES.map(lambda d: d.isoformat(timespec="seconds"))),
                    _maybe(st.datetimes(timezones=st.sampled_from([UTC, None])).map(
                        lambda d: d.isoformat()), "2026-12-03T10:00:00Z", "2026-12-03",
                        "2026-12-03 10:00:00+00:00", "garbage", 123, MISSING)),
    "site_id": (_maybe("site-1", None, MISSING), _maybe("", "сайт", 5, "a" * 129)),
    "location": (_maybe(st.fixed_dictionaries({"lat": st.floats(-90, 90),
                                               "lon": st.floats(-180, 180)}), None, MISSING),
                 _maybe(st.fixed_dictionaries({"lat": st.floats(-100, 100),
                                               "lon": st.floats(-200, 200)}),
                        {"lat": 1.0}, {"lat": 1, "lon": 2, "alt": 3}, [1, 2])),
    "bbox": (_maybe(st.lists(st.floats(0, 0.5), min_size=4, max_size=4), None, MISSING),
             _maybe(st.lists(st.floats(-0.1, 1.1), min_size=3, max_size=5), ["a", 0, 0, 0])),
    "attributes": (_maybe({}, None, MISSING),
                   _maybe({"count": 3}, {"plate": "AB 123"}, {"x": {"y": [1, 2]}},
                          {"subject_id": "s", "similarity": 0.9}, [1])),
    "snapshot": (_maybe({"uri": "s3://b/k.jpg", "sha256": "a" * 64}, {"uri": "s3://b/k.jpg"},
                        None, MISSING),  # a digest is optional (reference only)
                 _maybe({"uri": "", "sha256": "a" * 64}, {"uri": "u", "sha256": "A" * 64},
                        {"uri": "u", "sha256": None}, {"uri": "u", "sha256": ""})),
    "model": (_maybe({"name": "m", "version": "1"}, None, MISSING),
              _maybe({"name": "", "version": "1"}, {"name": "m", "version": "1", "extra": 1},
                     {"name": "м", "version": "1"})),
    "extra": (st.just(MISSING), _maybe(1, "x", {"deep": [1]})),
}


@st.composite
def records(draw: st.DrawFn) -> bytes:
    rec = {}
    for name, (valid, odd) in FIELDS.items():
        value = draw(valid if draw(st.integers(0, 11)) else odd)
        if value is not MISSING:
            rec[name] = value
    text = json.dumps(rec, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:  # a duplicated key: the last one counts, as in orjson
        text = text[:-1] + ', "confidence": 0.25}' if len(text) > 2 else text
    return text.encode("utf-8", "surrogatepass")


class _Msg:
    def __init__(self, value: bytes) -> None:
        self.value, self.key, self.offset = value, None, 0


def _same(a: tuple[Any, Any], b: tuple[Any, Any]) -> None:
    assert (a[0] is None) == (b[0] is None)
    assert a[0] == b[0] and repr(a[0]) == repr(b[0])
    assert (a[1] is None) == (b[1] is None)
    if a[1] is not None:
        assert a[1].errors == b[1].errors


@settings(max_examples=300, deadline=None)
@given(records())
def test_the_fast_path_decides_as_the_domain_validator(raw: bytes) -> None:
    full = _parse_full(raw)
    _same(_parse(_Msg(raw)), full)
    fast = fast_detection(raw)
    if fast is not None:
        assert full[0] == fast and repr(full[0]) == repr(fast)
        assert _reparse(_Msg(raw))[0] == fast


def test_a_plain_record_takes_the_fast_path() -> None:
    raw = json.dumps({
        "detection_id": str(uuid.uuid4()), "source_id": "cam-1-0", "source_kind": "camera",
        "kind": "fire", "confidence": 0.9, "observed_at": datetime.now(UTC).isoformat(),
        "site_id": "site-1", "location": {"lat": 43.25, "lon": 76.95},
        "bbox": [0.1, 0.2, 0.3, 0.4], "model": {"name": "fire-yolo", "version": "1.0"},
    }).encode()
    fast = fast_detection(raw)
    assert fast is not None and fast == _parse_full(raw)[0]
