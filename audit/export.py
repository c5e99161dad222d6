"""Export a range of the chained log for auditors, and read an export back, checking it.

An export is JSON lines, in log order:

* a header: `{"type": "header", "format": "kuzet.audit.export/1", "from", "to", "incident",
  "first_position", "last_position", "prev_position", "prev_hash", "exported_at",
  "store_head": {"position", "hash", "recorded_at"}}`. `from`/`to` select by recorded time
  (inclusive); recorded times never decrease along the log, so the selection is the position
  range `first_position..last_position`. `prev_*` is the link just before that range.
* one `"event"` line per selected event in stored form: `position`, `prev_position`,
  `prev_hash`, `hash`, `recorded_at` (RFC 3339), `recorded_at_us`, `originator_id`,
  `originator_version`, `topic` and `state` (the stored bytes, base64). Nothing is decoded or
  decrypted: personal fields sealed in the store stay sealed.
* with `--incident`, a `"link"` line (the link without the event) for every other event of the
  range, so the hashes still form one unbroken chain from the header to the trailer;
* a trailer: `{"type": "trailer", "events", "links", "last_position", "last_hash"}`.

`read_export` re-checks all of that: every event's hash recomputes from its content, every line
links to the one before (starting at the header's `prev_*`), counts and the last hash match the
trailer, and the file does not end early, nor start late or stop short of the header's
range (a cut whose header or trailer was rewritten to match). Hashes are hex.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from uuid import UUID

from audit.chain import GENESIS, ChainedEvent, ChainError, Link, from_us, to_us
from eventstore.log import ChainRecorder

__all__ = ["FORMAT", "ExportError", "ExportHeader", "Selection", "export", "read_export"]

FORMAT = "kuzet.audit.export/1"


class ExportError(ChainError):
    """Raised when an export cannot be written (unchained event) or a read one fails its
    checks; the message names the line and position."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What to export: events recorded in [since, until] (None: unbounded), of one incident."""

    since: datetime | None = None
    until: datetime | None = None
    incident: UUID | None = None

    def positions(self, chain: ChainRecorder) -> tuple[int, int]:
        """The position range the time bounds select (empty when first > last)."""
        first = chain.position_at(to_us(self.since) - 1) + 1 if self.since else 1
        head = chain.chain_head()
        last = head.position if head else 0
        if self.until is not None:
            last = min(last, chain.position_at(to_us(self.until)))
        return first, last


@dataclass(frozen=True, slots=True)
class ExportHeader:
    since: str | None
    until: str | None
    incident: str | None
    first_position: int
    last_position: int
    prev_position: int
    prev_hash: bytes
    exported_at: str
    store_head: dict[str, Any]

    def keeps(self, position: int, originator_id: str) -> bool:
        """Whether the live event at `position` belongs to this export's selection."""
        return (self.first_position <= position <= self.last_position
                and (self.incident is None or originator_id == self.incident))


def _link_fields(link: Link) -> dict[str, Any]:
    return {"position": link.position, "prev_position": link.prev_position,
            "prev_hash": link.prev_hash.hex(), "hash": link.hash.hex(),
            "recorded_at": from_us(link.recorded_at_us).isoformat(),
            "recorded_at_us": link.recorded_at_us}


def _event_line(event: ChainedEvent, link: Link) -> dict[str, Any]:
    return {"type": "event", **_link_fields(link), "originator_id": event.originator_id,
            "originator_version": event.originator_version, "topic": event.topic,
            "state": base64.b64encode(event.state).decode()}


def _header(chain: ChainRecorder, sel: Selection, first: int, last: int, prev: Link | None,
            exported_at: datetime) -> dict[str, Any]:
    head = chain.chain_head()
    return {"type": "header", "format": FORMAT,
            "from": sel.since.isoformat() if sel.since else None,
            "to": sel.until.isoformat() if sel.until else None,
            "incident": str(sel.incident) if sel.incident else None,
            "first_position": first, "last_position": last,
            "prev_position": prev.prev_position if prev else 0,
            "prev_hash": (prev.prev_hash if prev else GENESIS).hex(),
            "exported_at": exported_at.isoformat(),
            "store_head": {"position": head.position, "hash": head.hash.hex(),
                           "recorded_at": from_us(head.recorded_at_us).isoformat()}
            if head else None}


def _range(chain: ChainRecorder, first: int, last: int,
           batch: int) -> Iterator[tuple[ChainedEvent, Link]]:
    start = first
    while start <= last and (page := chain.read_chained(start, batch)):
        for event in page:
            if event.position > last:
                return
            if event.link is None:
                raise ExportError(f"position {event.position} has no chain link: the store is "
                                  "broken there (run `kuzet audit verify`)")
            yield event, event.link
        start = page[-1].position + 1


def export(chain: ChainRecorder, out: IO[str], sel: Selection, exported_at: datetime, *,
           batch: int = 5000) -> tuple[int, int]:
    """Write the selected events (and links) to `out`; returns (events, links) written."""
    first, last = sel.positions(chain)
    rows = _range(chain, first, last, batch)
    head = next(rows, None)
    out.write(json.dumps(_header(chain, sel, first, last, head[1] if head else None,
                                 exported_at)) + "\n")
    wanted = str(sel.incident) if sel.incident else None
    events = links = 0
    last_link: Link | None = None
    for event, link in itertools.chain([head] if head else [], rows):
        last_link = link
        if wanted is None or event.originator_id == wanted:
            out.write(json.dumps(_event_line(event, link)) + "\n")
            events += 1
        else:
            out.write(json.dumps({"type": "link", **_link_fields(link)}) + "\n")
            links += 1
    out.write(json.dumps({"type": "trailer", "events": events, "links": links,
                          "last_position": last_link.position if last_link else None,
                          "last_hash": last_link.hash.hex() if last_link else None}) + "\n")
    return events, links


def read_export(lines: Iterable[str]) -> tuple[ExportHeader, Iterator[ChainedEvent]]:
    """The header, and the events, checked one by one as they are iterated.

    The iterator raises `ExportError` at the first line that breaks the export's own chain
    and, at the end, if the trailer is missing or disagrees; consume it fully.
    """
    numbered = enumerate(lines, 1)
    number, line = next(numbered, (1, ""))
    raw = _json(line, number)
    if raw.get("type") != "header" or raw.get("format") != FORMAT:
        raise ExportError(f"line {number}: not a {FORMAT} header")
    try:
        header = ExportHeader(
            raw["from"], raw["to"], raw["incident"], int(raw["first_position"]),
            int(raw["last_position"]), int(raw["prev_position"]), bytes.fromhex(raw["prev_hash"]),
            str(raw["exported_at"]), raw["store_head"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ExportError(f"line {number}: bad header ({exc!r})") from None
    if header.prev_position >= header.first_position:
        raise ExportError(f"line {number}: the export starts after position "
                          f"{header.prev_position}, inside its range from "
                          f"{header.first_position}: lines were cut from its start")
    return header, _checked(numbered, header)


def _json(line: str, number: int) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except ValueError:
        raise ExportError(f"line {number}: not JSON") from None
    if not isinstance(raw, dict):
        raise ExportError(f"line {number}: not a JSON object")
    return raw


def _link(raw: dict[str, Any], number: int) -> Link:
    try:
        link = Link(int(raw["position"]), int(raw["prev_position"]), int(raw["recorded_at_us"]),
                    bytes.fromhex(raw["prev_hash"]), bytes.fromhex(raw["hash"]))
        shown = to_us(datetime.fromisoformat(raw["recorded_at"]))
    except (KeyError, ValueError, TypeError, ChainError) as exc:
        raise ExportError(f"line {number}: bad {raw.get('type')} line ({exc!r})") from None
    if shown != link.recorded_at_us:
        raise ExportError(f"line {number} (position {link.position}): recorded_at and "
                          "recorded_at_us disagree")
    return link


def _event(raw: dict[str, Any], link: Link, number: int) -> ChainedEvent:
    try:
        event = ChainedEvent(link.position, str(raw["originator_id"]),
                             int(raw["originator_version"]), str(raw["topic"]),
                             base64.b64decode(raw["state"], validate=True), link)
    except (KeyError, ValueError, TypeError) as exc:
        raise ExportError(f"line {number}: bad event line ({exc!r})") from None
    if not event.fits(link):
        raise ExportError(f"line {number} (position {link.position}): edited: the event no "
                          "longer hashes to its link")
    return event


def _checked(numbered: Iterator[tuple[int, str]], header: ExportHeader
             ) -> Iterator[ChainedEvent]:
    prev_position, prev_hash = header.prev_position, header.prev_hash
    counts = {"event": 0, "link": 0}
    for number, line in numbered:
        raw = _json(line, number)
        kind = raw.get("type")
        if kind == "trailer":
            _check_trailer(raw, counts, prev_position, prev_hash, number)
            _check_end(header, prev_position, number)
            if next(numbered, None) is not None:
                raise ExportError(f"line {number + 1}: lines after the trailer")
            return
        if kind not in counts:
            raise ExportError(f"line {number}: unknown line type {kind!r}")
        link = _link(raw, number)
        if (link.prev_position, link.prev_hash) != (prev_position, prev_hash):
            raise ExportError(f"line {number} (position {link.position}): does not link to "
                              f"the line before (position {prev_position}): a line was "
                              "removed, added or moved")
        if not header.first_position <= link.position <= header.last_position:
            raise ExportError(f"line {number}: position {link.position} is outside the "
                              f"header's range {header.first_position}..{header.last_position}")
        counts[kind] += 1
        if kind == "event":
            event = _event(raw, link, number)
            if header.incident is not None and event.originator_id != header.incident:
                raise ExportError(f"line {number}: an event of {event.originator_id} in an "
                                  f"export of incident {header.incident}")
            yield event
        prev_position, prev_hash = link.position, link.hash
    raise ExportError("the export ends without its trailer (truncated)")


def _check_trailer(raw: dict[str, Any], counts: dict[str, int], last_position: int,
                   last_hash: bytes, number: int) -> None:
    expected = {"events": counts["event"], "links": counts["link"]}
    got = {k: raw.get(k) for k in expected}
    if got != expected:
        raise ExportError(f"line {number}: the trailer counts {got}, the file holds {expected}")
    if counts["event"] + counts["link"] and (raw.get("last_position"), raw.get("last_hash")) != (
            last_position, last_hash.hex()):
        raise ExportError(f"line {number}: the trailer's last hash is not the last line's")


def _check_end(header: ExportHeader, last_position: int, number: int) -> None:
    """A range that is not empty ends with a line at its last position (an event, or with
    `--incident` the link of one): an export cut short, its trailer rewritten, is refused."""
    if header.first_position <= header.last_position != last_position:
        raise ExportError(f"line {number}: the export ends at position {last_position} but "
                          f"its header's range ends at {header.last_position}: cut short")
