"""Per-request context: the principal and the shared services (STYLE.md item 10)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info

from api.access import AccessLog
from api.auth import Principal, bearer
from api.caps import Caps
from api.config import ApiConfig
from api.errors import AuthError, ExpiredToken, MissingToken, RevokedToken
from api.fanout import LogFollower
from api.policy import Reveal, reveal_for
from api.reader import IncidentReader
from api.replay import ReplayPages, Turnstile
from api.revocations import RevocationList
from api.tokens import TokenVerifier
from api.views import ViewReader
from domain.application import IncidentApp
from projections.asof import RecordedLog
from projections.views import View

__all__ = ["Context", "Services", "principal_of"]


@dataclass(frozen=True)
class Services:
    """Process-wide pieces shared by every request."""

    config: ApiConfig
    app: IncidentApp
    reader: IncidentReader
    follower: LogFollower
    verifier: TokenVerifier
    revocations: RevocationList
    access: AccessLog
    caps: Caps
    replay: ReplayPages
    views: ViewReader | None = None
    """The projection store's agency views; None where no read model is configured."""
    history: RecordedLog | None = None
    """The log with recorded times (the audit chain), for auditors' time travel."""
    as_of_views: Mapping[str, View] = field(default_factory=dict)
    """The views time travel folds, by name (configured like the projection runner's)."""
    search: Any = None
    """The detection archive's search (`api.schema.search.DetectionSearchPort`), or None."""
    starts: Turnstile = field(default_factory=lambda: Turnstile(8, 0.01))
    """Paces WebSocket operations' starts (at most 8 per 10 ms, whatever the sockets): a
    burst of thousands of subscriptions starts over seconds between other requests' steps."""


@dataclass
class Context:
    """Built per HTTP request or WebSocket connection; `principal` is set once verified."""

    request: Any
    response: Any
    services: Services
    principal: Principal | None = None
    auth_error: AuthError | None = None
    connection_params: dict[str, Any] | None = field(default=None)

    @classmethod
    async def of_request(cls, request: Any, services: Services) -> Principal:
        """The caller of a plain HTTP route (evidence, exports): the bearer token verified,
        revocations refreshed, then `check`. Raises `AuthError`."""
        ctx = cls(request=request, response=None, services=services)
        token = bearer(request.headers.get("authorization"))
        if token is None:
            raise MissingToken
        ctx.principal = services.verifier.verify(token)
        await services.revocations.refresh()
        return ctx.check()

    def check(self) -> Principal:
        """The caller, still valid now: expired or revoked since it connected raises."""
        who = self.principal
        if who is None:
            raise self.auth_error or MissingToken()
        if who.expires_at <= time.time():
            raise ExpiredToken(who.expires_at)
        if self.services.revocations.is_revoked(who.token_id):
            raise RevokedToken
        return who

    @property
    def reveal(self) -> Reveal:
        """How personal fields read for this caller (its privacy policy)."""
        return reveal_for(self.check().policy)


def principal_of(info: Info[Context, None]) -> Principal:
    """The verified caller, re-checked (expiry, revocation) on every call: every resolver of
    every operation, HTTP or WebSocket; raises the auth error (a GraphQL error) otherwise."""
    return info.context.check()
