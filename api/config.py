"""The API's configuration: one frozen value built by the composition root (STYLE.md item 8).

Nothing in `api/` reads the environment; `create_app(config)` gets everything from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.errors import ApiConfigError, InvalidToken
from api.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEFAULT_MAX_TTL_S, KeyRing, OidcVerifier
from domain.rules import RuleSet

__all__ = ["ApiConfig"]


@dataclass(frozen=True)
class ApiConfig:
    """Everything the API needs; `token_secret` and keys never appear in `repr`."""

    event_store_env: Mapping[str, str]
    rules: RuleSet
    token_secret: str = field(default="", repr=False)
    """Derives an Ed25519 token key (`KeyRing.from_secret`) when `token_keys` is not given."""
    token_keys: KeyRing | None = field(default=None, repr=False)
    """Signing and verification keys (rotation: several public keys, one signing key)."""
    token_issuer: str = DEFAULT_ISSUER
    token_audience: str = DEFAULT_AUDIENCE
    token_max_ttl_s: int = DEFAULT_MAX_TTL_S
    """Tokens living longer than this (`exp - iat`) are refused, whoever signed them."""
    oidc: OidcVerifier | None = None
    """The city's identity provider (its issuer, JWKS URL and role mapping), if any."""
    revocation_refresh_s: float = 1.0
    """How stale the revoked-token list may be: it is re-read at most this often."""
    introspection_for_admin: bool = False
    """Outside dev mode introspection is off; this allows it for admins only."""
    max_ws_per_principal: int = 8
    max_ws_per_address: int = 64
    max_subscriptions_per_principal: int = 40
    max_subscriptions_per_connection: int = 20
    replay_page: int = 200
    """A replay from an old cursor reads the log in pages of this many positions."""
    max_concurrent_replays: int = 4
    """Replay pages being read and delivered at once, over all subscribers (backpressure)."""
    access_flush_s: float = 1.0
    """The personal-data access log is written in batches at most this often."""
    dev_mode: bool = False
    max_page_size: int = 200
    max_body_bytes: int = 64 * 1024
    max_query_depth: int = 8
    max_query_tokens: int = 2000
    max_aliases: int = 15
    poll_interval_s: float = 0.01
    """How often the log follower polls the notification log when it is caught up."""
    poll_batch: int = 500
    subscriber_queue: int = 1000
    """Per-subscriber bound; a subscriber this far behind is dropped (slow-consumer policy)."""
    read_model: str | None = field(default=None, repr=False)
    """The projection store the agency views and `incidents` read: a `postgresql://` URL or a
    SQLite file path; None: no agency views, and `incidents` folds the event store."""
    timezone: str = "Asia/Almaty"
    """The city's clock (an IANA zone): the console shows every time in it, 24-hour."""
    districts: Mapping[str, Any] | None = field(default=None, repr=False)
    """District boundaries (a GeoJSON FeatureCollection, each feature's `properties.district`
    named as in the sites file, `properties.sites` its sites) for the console's map; None: the
    map has no districts."""
    max_view_lag: int = 10_000
    """`incidents` reads the board only while it is at most this many log positions behind
    the event store's head (a stopped projection runner must not serve stale lists)."""
    max_view_staleness_s: float = 15.0
    """A view behind the log is not served once its projections runner has not reported for
    this long (`api.views.judge`): `incidents` folds the store, agency views say why."""
    connect_timeout_s: float = 5.0
    """Bound on opening a PostgreSQL read-model store."""
    evidence_dir: Path | None = None
    """The detectors' evidence store (`<data_dir>/evidence`): images served by digest by
    `GET /evidence/{incident}/{sha256}` (`api.evidence`); None: no image is served."""

    def __post_init__(self) -> None:
        if self.token_keys is None:
            if len(self.token_secret) < 16:
                raise ApiConfigError("token_secret must be at least 16 characters "
                                     "(or give token_keys)")
            try:
                object.__setattr__(self, "token_keys", KeyRing.from_secret(self.token_secret))
            except InvalidToken as exc:
                raise ApiConfigError(str(exc)) from None
        if self.token_max_ttl_s < 1 or min(self.max_ws_per_principal, self.max_ws_per_address,
                                           self.max_subscriptions_per_principal,
                                           self.max_subscriptions_per_connection,
                                           self.replay_page, self.max_concurrent_replays) < 1:
            raise ApiConfigError("token_max_ttl_s and the connection, subscription and "
                                 "replay limits must be >= 1")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ApiConfigError(f"timezone={self.timezone!r} is not an IANA time zone "
                                 "(e.g. Asia/Almaty)") from None
        if self.max_page_size < 1 or self.max_view_lag < 0:
            raise ApiConfigError(f"max_page_size={self.max_page_size} must be >= 1 and "
                                 f"max_view_lag={self.max_view_lag} >= 0")

    @property
    def keys(self) -> KeyRing:
        """The token key ring (given, or derived from `token_secret`)."""
        assert self.token_keys is not None
        return self.token_keys
