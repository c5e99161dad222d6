"""The chained event store as readers see it: a `ChainSource` plus a time-travelling log.

`chain_of(app)` returns the application's recorder if it is one of the chained recorders
(`eventstore.store_sqlite`, `eventstore.store_postgres`), else raises `UnchainedStoreError`.
`ChainedLog(app)` is a `projections.asof.RecordedLog`: the decoded notification log
(`eventstore.fastlog.FastLogReader`, equal to `domain.log.LogReader`) plus `position_at(T)` from the
chain's recorded times.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from domain.log import LogEvent
from eventstore.fastlog import FastLogReader
from eventstore.links import ChainedEvent, ChainError, Link, to_us

__all__ = ["ChainRecorder", "ChainedLog", "UnchainedStoreError", "chain_of"]


class UnchainedStoreError(ChainError):
    """Raised when the configured event store has no hash chain (a plain recorder)."""


@runtime_checkable
class ChainRecorder(Protocol):
    """What both chained recorders offer besides eventsourcing's `ApplicationRecorder`."""

    def read_chained(self, start: int, limit: int) -> Sequence[ChainedEvent]: ...

    def links(self, start: int, stop: int | None = None) -> Sequence[Link]: ...

    def chain_head(self) -> Link | None: ...

    def position_at(self, recorded_at_us: int) -> int: ...


def chain_of(app: Any) -> ChainRecorder:
    recorder = app.recorder
    if not isinstance(recorder, ChainRecorder):
        raise UnchainedStoreError(
            f"the event store's recorder {type(recorder).__qualname__} keeps no hash chain: "
            "set PERSISTENCE_MODULE to eventstore.store_sqlite or eventstore.store_postgres")
    return recorder


class ChainedLog:
    """The decoded log of a chained store, answering "what was known at instant T"."""

    def __init__(self, app: Any) -> None:
        self.chain = chain_of(app)
        self._reader = FastLogReader(app)

    def head(self) -> int:
        return self._reader.head()

    def read(self, start: int, limit: int) -> list[LogEvent]:
        return self._reader.read(start, limit)

    def position_at(self, instant: datetime) -> int:
        return self.chain.position_at(to_us(instant))
