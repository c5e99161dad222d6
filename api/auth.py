"""Bearer tokens and principals: who is calling, and what they may see and do.

A token is `base64url(json payload) "." base64url(HMAC-SHA256(secret, payload))`; the payload
is `{"sub", "role", "agency", "iat", "exp"}`. Tokens are issued by `kuzet token create` and
verified here with a constant-time comparison; expiry is checked on every request and at
WebSocket connect.

Policy (one place): situation-centre roles and auditors see every agency's incidents;
police, ZhKKh and education see the incidents routed to their agency. Personal fields
(subject, plate, snapshot references) resolve only for police and auditors. Auditors are
read-only. Agency views (read models): the situation centre and auditors read all of them,
each agency reads its own (police: the police view, ZhKKh: its work orders, education: canteen
attendance and school safety); the operator board is the situation centre's and auditors'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from enum import StrEnum

from api.errors import ExpiredToken, InvalidToken

__all__ = ["VIEWS", "Audience", "Principal", "Role", "issue_token", "verify_token"]


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    POLICE = "police"
    ZHKKH = "zhkkh"
    EDUCATION = "education"
    AUDITOR = "auditor"
    ADMIN = "admin"


SITUATION_CENTRE = "situation_centre"
Audience = tuple[str | None, bool]
"""What a payload depends on: (agency scope or None for all, personal fields visible)."""
_DEFAULT_AGENCY = {
    Role.POLICE: "police", Role.ZHKKH: "zhkkh", Role.EDUCATION: "education",
}
_PERSONAL_ROLES = frozenset({Role.POLICE, Role.AUDITOR})
_SEES_ALL = frozenset({Role.AUDITOR, Role.ADMIN})
_ALL_VIEWS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR})
VIEWS: dict[str, frozenset[Role]] = {
    "board": _ALL_VIEWS,
    "police": _ALL_VIEWS | {Role.POLICE},
    "zhkkh": _ALL_VIEWS | {Role.ZHKKH},
    "education": _ALL_VIEWS | {Role.EDUCATION},
}
"""Which roles may read each projection view (by the view's name in the read-model store)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: subject (operator id), role and agency."""

    subject: str
    role: Role
    agency: str
    expires_at: int

    @property
    def scope(self) -> str | None:
        """The one agency whose incidents this caller sees, or None for all."""
        if self.role in _SEES_ALL or self.agency == SITUATION_CENTRE:
            return None
        return self.agency

    @property
    def sees_personal(self) -> bool:
        return self.role in _PERSONAL_ROLES

    @property
    def can_write(self) -> bool:
        return self.role is not Role.AUDITOR

    def may_see(self, agencies: list[str] | tuple[str, ...]) -> bool:
        scope = self.scope
        return scope is None or scope in agencies

    def may_read_view(self, view: str) -> bool:
        return self.role in VIEWS.get(view, frozenset())

    @property
    def views(self) -> list[str]:
        """The projection views this caller may read."""
        return [name for name, roles in VIEWS.items() if self.role in roles]

    @property
    def audience(self) -> Audience:
        """What a payload depends on: (agency scope, personal fields visible)."""
        return (self.scope, self.sees_personal)


def default_agency(role: Role) -> str:
    return _DEFAULT_AGENCY.get(role, SITUATION_CENTRE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def issue_token(secret: str, *, subject: str, role: Role, agency: str | None = None,
                ttl_s: int, now: float | None = None) -> str:
    """A signed token for `subject` with `role`, valid for `ttl_s` seconds."""
    issued = int(time.time() if now is None else now)
    payload = {"sub": subject, "role": role.value, "agency": agency or default_agency(role),
               "iat": issued, "exp": issued + ttl_s}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_sign(secret, body)}"


def verify_token(secret: str, token: str, now: float | None = None) -> Principal:
    """The principal a token names; `InvalidToken` or `ExpiredToken` otherwise."""
    body, _, sig = token.strip().partition(".")
    if not body or not sig or not hmac.compare_digest(sig, _sign(secret, body)):
        raise InvalidToken("invalid token signature")
    try:
        payload = json.loads(_unb64(body))
        principal = Principal(subject=str(payload["sub"]), role=Role(payload["role"]),
                              agency=str(payload["agency"]), expires_at=int(payload["exp"]))
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("malformed token payload") from None
    if principal.expires_at <= (time.time() if now is None else now):
        raise ExpiredToken(principal.expires_at)
    return principal


def bearer(header: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header value (or a bare token)."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest else header.strip()
