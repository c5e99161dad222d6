"""Reproduce what an agency was sent in a period, from the topic, and check it against receipts.

The period is on the CloudEvents `time` (the event's own time, stable across redeliveries) and
is half-open, [start, end). Each event id is taken once (a relay re-send is byte-identical) and
turned into its body exactly as the adapter does (`body_for`), so a delivered event reproduces
the bytes whose sha256 its receipt holds. Two honest exceptions are reported, not hidden:

* `shredded`: a sealed value's subject key was destroyed since delivery; the value is gone by
  design, so the body differs from the receipt (the receipt still proves what was sent);
* `missing`: a receipt whose event is no longer on the topic (retention ran out);
* `unreadable`: a sealed value fails authentication (altered); its raw record is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from adapters.envelope import Body, Unseal, body_for, parse_record, sha256
from adapters.errors import UnsealError
from adapters.feed import Record
from adapters.state import Receipt

__all__ = ["Regenerated", "Regeneration", "regenerate"]


@dataclass(frozen=True, slots=True)
class Regenerated:
    event_id: str
    event_time: str
    body: bytes
    sha256: str
    receipt_sha256: str | None
    shredded: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def status(self) -> str:
        """`match`, `differs`, `shredded` (differs because a key was destroyed), `unreadable`
        or `not delivered` (no receipt: parked, dropped or not yet delivered)."""
        if self.problem is not None:
            return "unreadable"
        if self.receipt_sha256 is None:
            return "not delivered"
        if self.receipt_sha256 == self.sha256:
            return "match"
        return "shredded" if self.shredded else "differs"


@dataclass(frozen=True)
class Regeneration:
    items: list[Regenerated]
    missing: list[Receipt] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def consistent(self) -> bool:
        """Every receipt reproduced or explained (shredded); nothing differs unexplained."""
        unexplained = [i for i in self.items if i.status == "differs"
                       or (i.status == "unreadable" and i.receipt_sha256 is not None)]
        return not self.missing and not unexplained

    def jsonl(self) -> bytes:
        """One body per line (bodies are single-line JSON): each line hashes to its receipt."""
        return b"".join(item.body + b"\n" for item in self.items)


def regenerate(records: Iterable[Record], receipts: Iterable[Receipt], start: str, end: str,
               unseal: Unseal | None = None) -> Regeneration:
    """The bodies of the events timed in [start, end) (normalised UTC text), by time and id."""
    by_id = {r.event_id: r for r in receipts}
    items: dict[str, Regenerated] = {}
    for record in records:
        event = parse_record(record.value)
        if event.id is None or event.id in items or not start <= event.time < end:
            continue
        problem = None
        try:
            body = body_for(record.value, unseal)
        except UnsealError as exc:
            body, problem = Body(record.value), str(exc)
        receipt = by_id.get(event.id)
        items[event.id] = Regenerated(event.id, event.time, body.content, sha256(body.content),
                                      receipt.sha256 if receipt else None, body.shredded,
                                      problem)
    missing = [r for r in by_id.values() if r.event_id not in items]
    ordered = sorted(items.values(), key=lambda i: (i.event_time, i.event_id))
    return Regeneration(ordered, missing)
