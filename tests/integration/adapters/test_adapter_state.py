"""The adapter state store contract, on SQLite and PostgreSQL: checkpoints, receipts, parked."""

from __future__ import annotations

from adapters.state import AdapterState, Checkpoint, Outcome, Parked, Receipt

T = "2026-11-26T10:00:{:02d}.000000+00:00"


def receipt(event_id: str, second: int, adapter: str = "police", sha: str = "a" * 64) -> Receipt:
    return Receipt(adapter, event_id, T.format(second), "kuzet.incident.opened.v1", "t", 0,
                   second, "http://x/hook", sha, 200, 1, T.format(59))


def parked(event_id: str, attempts: int = 1, reason: str = "HTTP 400") -> Parked:
    return Parked("police", event_id, T.format(1), "kuzet.incident.note_added.v1", "t", 1, 7,
                  b'{"id":"x"}\x00\xff', reason, 400, attempts, T.format(2))


async def test_checkpoint_moves_with_the_receipt_and_never_back(state: AdapterState) -> None:
    assert await state.checkpoints("police", "t") == {}
    await state.commit(Outcome(receipt=receipt("e1", 1), checkpoint=Checkpoint("police", "t", 0, 5)))
    await state.commit(Outcome(checkpoint=Checkpoint("police", "t", 2, 9)))
    await state.commit(Outcome(checkpoint=Checkpoint("police", "t", 0, 3)))  # stale: ignored
    assert await state.checkpoints("police", "t") == {0: 5, 2: 9}
    assert await state.checkpoints("zhkkh", "t") == {}
    assert await state.delivered("police", "e1")
    assert not await state.delivered("zhkkh", "e1")


async def test_receipts_keep_the_first_delivery_and_filter_by_event_time(
        state: AdapterState) -> None:
    for i in (3, 1, 2):
        await state.commit(Outcome(receipt=receipt(f"e{i}", i)))
    await state.commit(Outcome(receipt=receipt("e1", 1, sha="b" * 64)))  # a later re-delivery
    await state.commit(Outcome(receipt=receipt("z1", 1, adapter="zhkkh")))
    found = await state.receipts("police", T.format(1), T.format(3))
    assert [r.event_id for r in found] == ["e1", "e2"]
    assert found[0] == receipt("e1", 1)


async def test_parked_events_are_kept_retried_and_dropped(state: AdapterState) -> None:
    await state.commit(Outcome(parked=parked("p1"), checkpoint=Checkpoint("police", "t", 1, 8)))
    await state.commit(Outcome(parked=parked("p2")))
    await state.commit(Outcome(parked=parked("p1", attempts=4, reason="HTTP 422")))
    listed = await state.parked("police")
    assert [(p.event_id, p.attempts, p.reason) for p in listed] == [
        ("p1", 4, "HTTP 422"), ("p2", 1, "HTTP 400")]
    assert listed[0].value == b'{"id":"x"}\x00\xff'  # raw bytes survive
    await state.commit(Outcome(receipt=receipt("p2", 1)))  # delivered on retry: unparked
    assert [p.event_id for p in await state.parked("police")] == ["p1"]
    assert await state.drop("police", "p1", T.format(30))
    assert not await state.drop("police", "p1", T.format(31))  # already dropped
    assert await state.parked("police") == []
    [gone] = await state.parked("police", dropped=True)
    assert gone.dropped_at == T.format(30)


async def test_a_retry_that_lost_the_race_to_a_receipt_does_not_park_a_delivered_event(
        state: AdapterState) -> None:
    """Two `parked retry` runs (or one beside the running adapter) deliver the same parked
    event: one is receipted (and unparks it), the other's attempt is refused (a receiver
    answering 409 to a duplicate Idempotency-Key) and commits its parked entry afterwards.
    The event was delivered: it must not be listed as parked again."""
    await state.commit(Outcome(parked=parked("p1")))
    await state.commit(Outcome(receipt=receipt("p1", 1)))
    await state.commit(Outcome(parked=parked("p1", attempts=2, reason="HTTP 409 duplicate"),
                               checkpoint=Checkpoint("police", "t", 1, 8)))
    assert await state.parked("police", dropped=True) == []
    assert await state.delivered("police", "p1")
    assert await state.checkpoints("police", "t") == {1: 8}  # the checkpoint still moves
