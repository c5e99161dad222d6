"""Errors raised by the agency adapters.

    AdapterError
    ├── SigningKeyError      a signing or verification key is missing or malformed
    ├── SignatureError       a signed request's headers are missing, stale or do not verify
    ├── StateStoreError      the adapter's state store cannot be opened or written
    ├── FeedError            the agency topic cannot be read (missing topic, unreachable broker)
    ├── ParkedNotFound       no parked event has the given id
    ├── AdapterBusy          another process already runs an adapter of that name
    ├── ClaimLost            this process no longer holds its adapter's claim
    ├── UnsealError          a sealed value is malformed or fails authentication
    └── InvalidReport        an agency's report-back is malformed (every bad field listed)
"""

from __future__ import annotations

__all__ = ["AdapterBusy", "AdapterError", "ClaimLost", "FeedError", "InvalidReport",
           "ParkedNotFound", "SignatureError", "SigningKeyError", "StateStoreError",
           "UnsealError"]


class AdapterError(Exception):
    """Base of every error the adapters raise on purpose."""


class SigningKeyError(AdapterError):
    """Raised when a private or public Ed25519 key is missing or not in a known encoding."""


class SignatureError(AdapterError):
    """Raised when a signed request lacks its headers, is too old or its signature is wrong."""


class StateStoreError(AdapterError):
    """Raised when the checkpoint/receipt store cannot be opened or a write fails."""


class FeedError(AdapterError):
    """Raised when the agency's Kafka topic does not exist or the broker cannot be reached."""


class AdapterBusy(AdapterError):
    """Raised when another process already runs an adapter of this name on the same state
    store: two would deliver every event twice and race on the checkpoints."""

    def __init__(self, adapter: str) -> None:
        super().__init__(f"adapter {adapter!r} is already running on this state store "
                         "(one process per adapter name)")


class ClaimLost(AdapterError):
    """Raised when a running adapter's claim ended under it (its database session dropped):
    it stops, so that a second process cannot deliver beside it unnoticed; restart it."""

    def __init__(self, adapter: str) -> None:
        super().__init__(f"adapter {adapter!r} lost its claim on the state store (its "
                         "session ended); stopping — restart it")


class ParkedNotFound(AdapterError):
    """Raised by `parked retry|drop` when no parked event of the adapter has that id."""

    def __init__(self, adapter: str, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(f"adapter {adapter!r} has no parked event {event_id!r}")


class UnsealError(AdapterError):
    """Raised by an unsealer when a sealed value is malformed or fails authentication (it was
    altered or moved): such an event is parked, never delivered as if shredded."""


class InvalidReport(AdapterError):
    """Raised by `parse_report` when a report-back breaks its contract; lists every field."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("invalid report: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
