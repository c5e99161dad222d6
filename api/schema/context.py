"""Per-request context: the principal and the shared services (STYLE.md item 10)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info

from api.auth import Principal
from api.config import ApiConfig
from api.errors import AuthError, MissingToken
from api.fanout import LogFollower
from api.reader import IncidentReader
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
    views: ViewReader | None = None
    """The projection store's agency views; None where no read model is configured."""
    history: RecordedLog | None = None
    """The log with recorded times (the audit chain), for auditors' time travel."""
    as_of_views: Mapping[str, View] = field(default_factory=dict)
    """The views time travel folds, by name (configured like the projection runner's)."""


@dataclass
class Context:
    """Built per HTTP request or WebSocket connection; `principal` is set once verified."""

    request: Any
    response: Any
    services: Services
    principal: Principal | None = None
    auth_error: AuthError | None = None
    connection_params: dict[str, Any] | None = field(default=None)


def principal_of(info: Info[Context, None]) -> Principal:
    """The verified caller; raises the auth error (a GraphQL error) if there is none."""
    ctx = info.context
    if ctx.principal is None:
        raise ctx.auth_error or MissingToken()
    return ctx.principal
