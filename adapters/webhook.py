"""The webhook adapter: an agency's topic, delivered event by event to the agency's endpoint.

Partitions are worked concurrently, each in offset order. For every record: skip it if a
receipt for its event id exists (a relay re-send), otherwise deliver it (`Sender`: retries with
backoff) and commit the receipt, or park it, together with the checkpoint past it. A parked
event never blocks the rest of its partition: only retries of a transient failure wait, and
they are bounded by the retry policy. `retry_parked` and `drop_parked` serve the CLI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from adapters.delivery import Attempted, Sender, Stopped
from adapters.envelope import Body, FeedEvent, Unseal, body_for, parse_record, sha256
from adapters.errors import ParkedNotFound, UnsealError
from adapters.feed import Feed, Record
from adapters.metrics import AdapterMetrics
from adapters.retry import Verdict
from adapters.state import AdapterState, Checkpoint, Outcome, Parked, Receipt

__all__ = ["Reveal", "WebhookAdapter", "drop_parked", "utc_now"]

log = logging.getLogger("kuzet.adapter")


Reveal = Callable[[str, str, Body], Awaitable[None]]
"""(adapter name, endpoint URL, the delivered body) after a delivery that revealed personal
fields: the composition root records it in the personal-data access log."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class _Where:
    topic: str
    partition: int
    offset: int


class WebhookAdapter:
    """Adapter `name` (one per agency endpoint) over `state`, delivering through `sender`."""

    def __init__(self, name: str, state: AdapterState, sender: Sender, *,
                 unseal: Unseal | None = None, clock: Callable[[], str] = utc_now,
                 on_reveal: Reveal | None = None) -> None:
        self.name = name
        self.state = state
        self.sender = sender
        self.unseal = unseal
        self.clock = clock
        self.on_reveal = on_reveal
        self.metrics = AdapterMetrics(name)
        """Told of every delivery that revealed personal fields in the clear (the access
        log: who received whom); awaited before the receipt is committed."""

    async def run(self, feed: Feed, stop: asyncio.Event) -> None:
        """Deliver from the checkpoints on until `stop` is set; in-flight events finish first.

        One process per adapter name: a second one is refused (`AdapterBusy`) before it reads.
        """
        await self.state.claim(self.name)
        await feed.start(await self.state.checkpoints(self.name, feed.topic))
        try:
            while not stop.is_set():
                await self.state.check_claim(self.name)  # a lost claim stops us before a batch
                batch = await feed.fetch()
                done = await asyncio.gather(*(self._partition(records, stop)
                                              for records in batch.values()),
                                            return_exceptions=True)
                failed = [r for r in done if isinstance(r, BaseException)]
                if failed:  # the other partitions finished their records first
                    raise failed[0]
        finally:
            await feed.stop()

    async def _partition(self, records: Iterable[Record], stop: asyncio.Event) -> None:
        try:
            for record in records:
                if stop.is_set():
                    return
                await self.handle(record, stop)
        except Stopped:  # waiting to retry when told to stop: redelivered after restart
            return

    async def handle(self, record: Record, stop: asyncio.Event) -> None:
        """Deliver or park one record and commit it (a record receipted before only moves the
        checkpoint)."""
        where = _Where(record.topic, record.partition, record.offset)
        checkpoint = Checkpoint(self.name, record.topic, record.partition, record.offset + 1)
        event = parse_record(record.value)
        if event.id is None:
            poison = Attempted(Verdict.PARK, None, 0, event.problem or "unreadable record")
            await self.state.commit(Outcome(parked=self._parked(event, where, poison),
                                            checkpoint=checkpoint))
            self.metrics.parked.inc()
        elif await self.state.delivered(self.name, event.id):
            await self.state.commit(Outcome(checkpoint=checkpoint))
            self.metrics.duplicate.inc()
        else:
            result, body = await self._deliver(event.id, event.raw, stop)
            await self._revealed(result, body)
            await self.state.commit(self._outcome(event, where, result, body.content,
                                                  checkpoint))
            self._count(result)

    def _count(self, result: Attempted) -> None:
        """Outcome and retries of one committed delivery (the parked queue's CLI too)."""
        (self.metrics.delivered if result.verdict is Verdict.DELIVERED
         else self.metrics.parked).inc()
        if result.attempts > 1:
            self.metrics.retries.inc(result.attempts - 1)

    async def _deliver(self, event_id: str, raw: bytes, stop: asyncio.Event
                       ) -> tuple[Attempted, Body]:
        try:
            body = body_for(raw, self.unseal)
        except UnsealError as exc:  # tampered: park it, and say why
            return Attempted(Verdict.PARK, None, 0, str(exc)), Body(raw)
        if body.shredded:
            log.info("event %s: sealed values under %s were shredded", event_id, body.shredded)
        return await self.sender.deliver(event_id, body.content, stop), body

    async def _revealed(self, result: Attempted, body: Body) -> None:
        if self.on_reveal is not None and body.revealed and result.verdict is Verdict.DELIVERED:
            await self.on_reveal(self.name, self.sender.url, body)

    def _outcome(self, event: FeedEvent, where: _Where, result: Attempted, body: bytes,
                 checkpoint: Checkpoint | None) -> Outcome:
        if result.verdict is Verdict.DELIVERED:
            return Outcome(receipt=self._receipt(event, where, result, body),
                           checkpoint=checkpoint)
        log.warning("adapter %s parked event %s: %s", self.name, event.id, result.reason,
                    extra={"event_id": event.id, "partition": where.partition,
                           "offset": where.offset})
        return Outcome(parked=self._parked(event, where, result), checkpoint=checkpoint)

    def _receipt(self, event: FeedEvent, where: _Where, result: Attempted,
                 body: bytes) -> Receipt:
        return Receipt(self.name, event.id or "", event.time, event.type, where.topic,
                       where.partition, where.offset, self.sender.url, sha256(body),
                       result.http_status or 0, result.attempts, self.clock())

    def _parked(self, event: FeedEvent, where: _Where, result: Attempted) -> Parked:
        event_id = event.id or f"{where.topic}:{where.partition}:{where.offset}"
        return Parked(self.name, event_id, event.time, event.type, where.topic, where.partition,
                      where.offset, event.raw, result.reason, result.http_status,
                      result.attempts, self.clock())

    # --- the parked queue (CLI) --------------------------------------------------------------

    async def retry_parked(self, event_id: str | None = None,
                           stop: asyncio.Event | None = None) -> dict[str, Verdict]:
        """Deliver parked events again (one, or all); each is receipted or stays parked."""
        results = {}
        for parked in await _selected(self.state, self.name, event_id):
            event = parse_record(parked.value)
            where = _Where(parked.topic, parked.partition, parked.offset)
            if event.id is None:
                results[parked.event_id] = Verdict.PARK  # still no envelope: nothing to send
                continue
            result, body = await self._deliver(event.id, event.raw, stop or asyncio.Event())
            await self._revealed(result, body)
            outcome = self._outcome(event, where, result, body.content, None)
            if outcome.parked is not None:
                outcome = replace(outcome, parked=replace(
                    outcome.parked, attempts=parked.attempts + result.attempts))
            await self.state.commit(outcome)
            self._count(result)
            results[parked.event_id] = result.verdict
        return results


async def _selected(state: AdapterState, name: str, event_id: str | None) -> list[Parked]:
    parked = [p for p in await state.parked(name) if event_id in (None, p.event_id)]
    if event_id is not None and not parked:
        raise ParkedNotFound(name, event_id)
    return parked


async def drop_parked(state: AdapterState, name: str, event_id: str | None = None,
                      clock: Callable[[], str] = utc_now) -> list[str]:
    """Mark parked events dropped (kept, with the time, for the record); returns their ids.

    Needs no endpoint or key, so the CLI runs it without building a `WebhookAdapter`.
    """
    return [p.event_id for p in await _selected(state, name, event_id)
            if await state.drop(name, p.event_id, clock())]
