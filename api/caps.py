"""Per-principal and per-address caps on WebSocket connections and subscriptions.

One `Caps` per process counts what is open; `take_*` refuses (False or `TooMany`) once a cap
is reached, and every taken unit is given back when its connection or subscription ends.
A principal is counted by its subject (the same person on many tokens is one principal).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from api.auth import Principal
from api.config import ApiConfig
from api.errors import TooMany

__all__ = ["Caps"]


def _give(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


class Caps:
    def __init__(self, config: ApiConfig) -> None:
        self.config = config
        self.addresses: Counter[str] = Counter()
        self.principals: Counter[str] = Counter()
        self.subscriptions: Counter[str] = Counter()

    def take_address(self, address: str) -> bool:
        if self.addresses[address] >= self.config.max_ws_per_address:
            return False
        self.addresses[address] += 1
        return True

    def give_address(self, address: str) -> None:
        _give(self.addresses, address)

    def take_principal(self, who: Principal) -> None:
        if self.principals[who.subject] >= self.config.max_ws_per_principal:
            raise TooMany(f"too many connections for {who.subject!r} (at most "
                          f"{self.config.max_ws_per_principal})")
        self.principals[who.subject] += 1

    def give_principal(self, who: Principal) -> None:
        _give(self.principals, who.subject)

    @contextmanager
    def subscription(self, who: Principal) -> Iterator[None]:
        """Holds one of the principal's subscriptions for the block (`TooMany` if none left)."""
        cap = self.config.max_subscriptions_per_principal
        if self.subscriptions[who.subject] >= cap:
            raise TooMany(f"too many subscriptions for {who.subject!r} (at most {cap})")
        self.subscriptions[who.subject] += 1
        try:
            yield
        finally:
            _give(self.subscriptions, who.subject)
