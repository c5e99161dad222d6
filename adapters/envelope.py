"""From an agency-topic record to the exact bytes an agency receives.

A record's value is a CloudEvents envelope (`streams/relay.py`). The body we POST is that value
unchanged, byte for byte, unless it holds sealed personal values (`{"$sealed": 1, "k": key_id,
"c": ...}`, written by the audit package's per-subject encryption): the relay only leaves a
personal field on an agency's topic when that agency's policy keeps it, so every sealed value
found there is one the agency is entitled to read, and an `Unseal` function (supplied by the
composition root) opens it. A value whose subject key was destroyed since reads as
`domain.privacy.SHREDDED`, as everywhere else. Re-encoding uses the relay's canonical JSON, so
the same record and the same keys always give the same bytes: `regenerate` relies on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.erasure import DataClass, identity_of
from domain.privacy import SEALED, SHREDDED, is_sealed, mask

__all__ = ["Body", "FeedEvent", "Unseal", "body_for", "normalise_time", "parse_record",
           "sha256"]

_SEALED_BYTES = f'"{SEALED}"'.encode()

Unseal = Callable[[Mapping[str, Any]], Any]
"""Opens one sealed marker: its plaintext, or `SHREDDED` when its key was destroyed; raises
`adapters.errors.UnsealError` when the marker is malformed or fails authentication."""

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # the relay's encoding


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """What the adapter needs of a record: the CloudEvents id and time, and the raw value.

    `id` is None for a record that is not a CloudEvents envelope (it gets parked).
    """

    id: str | None
    time: str
    type: str
    raw: bytes
    problem: str | None = None


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def normalise_time(text: str) -> str:
    """An RFC 3339 time as UTC with microseconds, so stored times compare as text."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return parsed.astimezone(UTC).isoformat(timespec="microseconds")


def parse_record(raw: bytes) -> FeedEvent:
    """The record's id, time and type; `problem` says why it is no CloudEvents envelope."""
    try:
        envelope = json.loads(raw)
        event_id, time, kind = envelope["id"], envelope["time"], envelope.get("type", "")
        if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
            raise TypeError("id and type must be strings")
        return FeedEvent(event_id, normalise_time(time), kind, raw)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:  # deep nesting: poison
        return FeedEvent(None, "", "", raw, f"not a CloudEvents envelope: {exc!r}"[:300])


@dataclass(frozen=True, slots=True)
class Body:
    content: bytes
    shredded: tuple[str, ...] = ()
    """Key ids of sealed values that could not be opened because their key is gone."""
    revealed: tuple[str, ...] = ()
    """The event's data fields that held a personal value now delivered in the clear."""
    subjects: tuple[str, ...] = ()
    """Pseudonyms (`domain.privacy.mask`) of the subjects revealed (for the access log)."""
    incident: str = ""
    """The incident the event is about (its CloudEvents `subject`)."""


def body_for(raw: bytes, unseal: Unseal | None) -> Body:
    """The bytes to deliver for record value `raw` (unchanged unless it holds sealed values),
    and which personal fields it reveals in the clear."""
    if unseal is None or _SEALED_BYTES not in raw:
        return Body(raw)
    shredded: list[str] = []
    envelope = json.loads(raw)
    data = envelope.get("data") if isinstance(envelope, dict) else None
    revealed = []
    if isinstance(data, dict):
        for name, value in data.items():
            before = len(shredded)
            opened_value = _open(value, unseal, shredded)
            if opened_value != value and len(shredded) == before:
                revealed.append(name)
            data[name] = opened_value
        opened = envelope
    else:
        opened = _open(envelope, unseal, shredded)
    return Body(_ENCODER.encode(opened).encode(), tuple(shredded), tuple(revealed),
                _pseudonyms(data.get("subject") if isinstance(data, dict) else None),
                str(envelope.get("subject", "")) if isinstance(envelope, dict) else "")


def _pseudonyms(subject: Any) -> tuple[str, ...]:
    if not isinstance(subject, dict):
        return ()
    classes = {"subject_id": DataClass.FACE, "plate": DataClass.PLATE}
    return tuple(sorted(mask(str(identity_of(c, str(subject[k])))) for k, c in classes.items()
                        if isinstance(subject.get(k), str) and subject[k] != SHREDDED))


def _open(value: Any, unseal: Unseal, shredded: list[str]) -> Any:
    if is_sealed(value):
        plain = unseal(value)
        if plain == SHREDDED:
            shredded.append(str(value.get("k")))
        return plain
    if isinstance(value, dict):
        return {k: _open(v, unseal, shredded) for k, v in value.items()}
    if isinstance(value, list):
        return [_open(v, unseal, shredded) for v in value]
    return value
