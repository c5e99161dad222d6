"""The API's configuration: one frozen value built by the composition root (STYLE.md item 8).

Nothing in `api/` reads the environment; `create_app(config)` gets everything from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.errors import ApiConfigError
from domain.rules import RuleSet

__all__ = ["ApiConfig"]


@dataclass(frozen=True)
class ApiConfig:
    """Everything the API needs; `token_secret` never appears in `repr`."""

    event_store_env: Mapping[str, str]
    rules: RuleSet
    token_secret: str = field(repr=False)
    dev_mode: bool = False
    max_page_size: int = 200
    max_body_bytes: int = 64 * 1024
    max_query_depth: int = 8
    max_query_tokens: int = 2000
    max_aliases: int = 15
    poll_interval_s: float = 0.05
    """How often the log follower polls the notification log when it is caught up."""
    poll_batch: int = 500
    subscriber_queue: int = 1000
    """Per-subscriber bound; a subscriber this far behind is dropped (slow-consumer policy)."""
    read_model: str | None = field(default=None, repr=False)
    """The projection store the agency views and `incidents` read: a `postgresql://` URL or a
    SQLite file path; None: no agency views, and `incidents` folds the event store."""
    timezone: str = "Asia/Almaty"
    """The city's clock (an IANA zone): the console shows every time in it, 24-hour."""
    max_view_lag: int = 10_000
    """`incidents` reads the board only while it is at most this many log positions behind
    the event store's head (a stopped projection runner must not serve stale lists)."""
    max_view_staleness_s: float = 15.0
    """A view behind the log is not served once its projections runner has not reported for
    this long (`api.views.judge`): `incidents` folds the store, agency views say why."""
    connect_timeout_s: float = 5.0
    """Bound on opening a PostgreSQL read-model store."""

    def __post_init__(self) -> None:
        if len(self.token_secret) < 16:
            raise ApiConfigError("token_secret must be at least 16 characters")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ApiConfigError(f"timezone={self.timezone!r} is not an IANA time zone "
                                 "(e.g. Asia/Almaty)") from None
        if self.max_page_size < 1 or self.max_view_lag < 0:
            raise ApiConfigError(f"max_page_size={self.max_page_size} must be >= 1 and "
                                 f"max_view_lag={self.max_view_lag} >= 0")
