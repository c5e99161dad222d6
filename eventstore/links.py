"""The hash chain's links: what each stored event's link holds and how its hash is computed.

Every stored event carries a `Link`: its position, the position of the event before it in the
log (`prev_position`: PostgreSQL's sequence may skip ids after a rolled-back insert, so the
predecessor is named, not implied), `recorded_at_us` (the database clock when the event was
committed, microseconds since the Unix epoch, never decreasing along the log), the previous
link's hash and its own hash, over this canonical serialisation:

    hash = sha256(b"kuzet-chain-v1" || prev_hash (32 bytes)
                  || i64(position) || i64(prev_position) || i64(recorded_at_us)
                  || i64(originator_version) || u32(len(originator_id)) || u32(len(topic))
                  || originator_id || topic || u64(len(state)) || state)

with integers big-endian, texts UTF-8, `originator_id` the UUID's canonical text
(`str(uuid)`), and `state` the stored bytes exactly as the mapper wrote them (possibly
compressed or sealed: shredding a key later changes nothing stored, so the chain still holds).
Every variable-length part is length-prefixed, so no two events serialise alike. The first
link's `prev_hash` is 32 zero bytes.

Links are written by the recorders in `eventstore.store_sqlite` and `eventstore.store_postgres` and
checked by `audit.chain.verify_chain`; nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["GENESIS", "Anchor", "ChainError", "ChainedEvent", "Link", "extend", "from_us",
           "link_hash", "parse_anchors", "to_us"]

GENESIS = bytes(32)
"""The `prev_hash` of the first link."""
_DOMAIN = b"kuzet-chain-v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


class ChainError(Exception):
    """Base of every error the audit chain raises on purpose (bad anchor, unchained store…)."""


def to_us(instant: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    if instant.tzinfo is None:
        raise ChainError(f"instant {instant.isoformat()} has no UTC offset")
    return (instant - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class Link:
    """One row of the chain table: what the chain vouches for at `position`."""

    position: int
    prev_position: int
    recorded_at_us: int
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    """A stored event at `position` with the chain's link for that position (None: unchained)."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes
    link: Link | None

    def fits(self, link: Link) -> bool:
        """Whether this event's content is what `link` vouches for."""
        try:
            digest = link_hash(link.prev_hash, link.position, link.prev_position,
                               link.recorded_at_us, self.originator_id, self.originator_version,
                               self.topic, self.state)
        except (struct.error, TypeError, AttributeError):  # a stored value forced out of type
            return False
        return digest == link.hash


_FIXED = struct.Struct(">32sqqqqII")


def link_hash(prev_hash: bytes, position: int, prev_position: int, recorded_at_us: int,
              originator_id: str, originator_version: int, topic: str, state: bytes) -> bytes:
    """The canonical hash of one event chained to `prev_hash` (see the module docstring)."""
    oid, top = originator_id.encode(), topic.encode()
    return hashlib.sha256(b"".join((
        _DOMAIN, _FIXED.pack(prev_hash, position, prev_position, recorded_at_us,
                             originator_version, len(oid), len(top)),
        oid, top, len(state).to_bytes(8, "big"), state,
    ))).digest()


def extend(prev: Link | None, events: Iterable[tuple[int, str, int, str, bytes]],
           now_us: int) -> list[Link]:
    """Links for `events` (position, originator_id, version, topic, state) appended after `prev`.

    One transaction's events share one `recorded_at_us`: the database clock, or the previous
    link's time if the clock stepped back, so `recorded_at_us` never decreases along the log
    (time travel relies on that: "recorded at or before T" is a prefix of the log).
    """
    at = max(now_us, prev.recorded_at_us) if prev else now_us
    prev_position, prev_hash = (prev.position, prev.hash) if prev else (0, GENESIS)
    out = []
    for position, originator_id, version, topic, state in events:
        digest = link_hash(prev_hash, position, prev_position, at, originator_id, version,
                           topic, state)
        out.append(Link(position, prev_position, at, prev_hash, digest))
        prev_position, prev_hash = position, digest
    return out


@dataclass(frozen=True, slots=True)
class Anchor:
    """A chain head written down outside the store (`kuzet audit anchor`), one JSON line."""

    position: int
    hash: bytes
    recorded_at: str
    anchored_at: str

    @classmethod
    def of(cls, link: Link, anchored_at: datetime) -> Anchor:
        return cls(link.position, link.hash, from_us(link.recorded_at_us).isoformat(),
                   anchored_at.isoformat())

    def to_json(self) -> str:
        return json.dumps({"position": self.position, "hash": self.hash.hex(),
                           "recorded_at": self.recorded_at, "anchored_at": self.anchored_at})


def parse_anchors(lines: Iterable[str], name: str = "anchors") -> list[Anchor]:
    """Anchors from JSON lines (blank lines skipped); a bad line raises `ChainError`."""
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            out.append(Anchor(int(raw["position"]), bytes.fromhex(raw["hash"]),
                              str(raw["recorded_at"]), str(raw["anchored_at"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ChainError(f"{name} line {number}: not an anchor ({exc!r})") from None
    return out
