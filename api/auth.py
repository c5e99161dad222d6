"""Principals and the one authorisation policy: who is calling, what they may see and do.

Tokens themselves (JWT, keys, rotation, OIDC) are `api.tokens`; this module decides what a
verified principal may do, for every query, view, mutation, subscription and history entry:

- **Role and agency go together** (`ROLE_AGENCIES`): police, ZhKKh and education roles act for
  their own agency only; auditors and admins for the situation centre; operators and
  supervisors for the situation centre or one agency's duty room. Any other pair is refused
  when a token is issued and when one is verified.
- **Scope**: the situation centre, auditors and admins see every agency's incidents; any other
  principal only the incidents routed to its agency, on every path.
- **Views**: a role's views (`VIEWS`) narrowed by agency: a principal scoped to an agency reads
  the board (rows routed to it) and that agency's own view only (`AGENCY_VIEWS`).
- **Personal fields**: masked by field with the policy of `domain.privacy` (one table for the
  API and the agency feeds): the principal's agency's policy, auditors' for auditors
  (`Principal.policy`, applied by `api.policy.Reveal`).
- Auditors are read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from api.errors import InvalidToken
from domain.kinds import Agency
from domain.privacy import AUDITOR, PERSONAL_TAGS, READER_POLICIES, Action

__all__ = ["AGENCY_VIEWS", "ROLE_AGENCIES", "SITUATION_CENTRE", "VIEWS", "Audience", "Principal",
           "Role", "bearer", "check_pair", "default_agency"]


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    POLICE = "police"
    ZHKKH = "zhkkh"
    EDUCATION = "education"
    AUDITOR = "auditor"
    ADMIN = "admin"


SITUATION_CENTRE = Agency.SITUATION_CENTRE.value
Audience = str
"""What a payload depends on: the privacy policy's name (`Principal.policy`)."""
_ALL_AGENCIES = frozenset(a.value for a in Agency)
ROLE_AGENCIES: dict[Role, frozenset[str]] = {
    Role.OPERATOR: _ALL_AGENCIES, Role.SUPERVISOR: _ALL_AGENCIES,
    Role.POLICE: frozenset({"police"}), Role.ZHKKH: frozenset({"zhkkh"}),
    Role.EDUCATION: frozenset({"education"}),
    Role.AUDITOR: frozenset({SITUATION_CENTRE}), Role.ADMIN: frozenset({SITUATION_CENTRE}),
}
"""The agencies each role may act for; the first listed default is `default_agency`."""
_DEFAULT_AGENCY = {Role.POLICE: "police", Role.ZHKKH: "zhkkh", Role.EDUCATION: "education"}
_SEES_ALL = frozenset({Role.AUDITOR, Role.ADMIN})
_ALL_VIEWS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR})
VIEWS: dict[str, frozenset[Role]] = {
    "board": _ALL_VIEWS,
    "police": _ALL_VIEWS | {Role.POLICE},
    "zhkkh": _ALL_VIEWS | {Role.ZHKKH},
    "education": _ALL_VIEWS | {Role.EDUCATION},
}
"""Which roles may read each projection view (by the view's name in the read-model store)."""
AGENCY_VIEWS: dict[str, frozenset[str]] = {
    "police": frozenset({"board", "police"}), "zhkkh": frozenset({"board", "zhkkh"}),
    "education": frozenset({"board", "education"}), "emergency": frozenset({"board"}),
}
"""The views a principal scoped to an agency may read at most (board rows are narrowed)."""


def default_agency(role: Role) -> str:
    return _DEFAULT_AGENCY.get(role, SITUATION_CENTRE)


def check_pair(role: Role, agency: str) -> None:
    """Refuses a role acting for an agency it cannot (`InvalidToken` naming both)."""
    allowed = ROLE_AGENCIES[role]
    if agency not in allowed:
        raise InvalidToken(f"role {role.value} may not act for agency {agency!r} "
                           f"(allowed: {', '.join(sorted(allowed))})")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: subject (operator id), role, agency, and its token's id
    (`token_id`, the JWT `jti`) and expiry (unix seconds)."""

    subject: str
    role: Role
    agency: str
    expires_at: int
    token_id: str = ""
    issuer: str = ""

    @property
    def scope(self) -> str | None:
        """The one agency whose incidents this caller sees, or None for all."""
        if self.role in _SEES_ALL or self.agency == SITUATION_CENTRE:
            return None
        return self.agency

    @property
    def policy(self) -> str:
        """The name of the privacy policy this caller reads under (`domain.privacy`)."""
        return AUDITOR if self.role is Role.AUDITOR else self.agency

    @property
    def sees_personal(self) -> bool:
        """Plates, subject ids and snapshots in the clear (else masked or left out)."""
        policy = READER_POLICIES.get(self.policy, {})
        return all(policy.get(t) is Action.KEEP for t in PERSONAL_TAGS)

    @property
    def can_write(self) -> bool:
        return self.role is not Role.AUDITOR

    def may_see(self, agencies: list[str] | tuple[str, ...]) -> bool:
        scope = self.scope
        return scope is None or scope in agencies

    def may_read_view(self, view: str) -> bool:
        if self.role not in VIEWS.get(view, frozenset()):
            return False
        scope = self.scope
        return scope is None or view in AGENCY_VIEWS.get(scope, frozenset())

    @property
    def views(self) -> list[str]:
        """The projection views this caller may read."""
        return [name for name in VIEWS if self.may_read_view(name)]

    @property
    def audience(self) -> Audience:
        """What a payload depends on: the privacy policy (scope only filters, never masks)."""
        return self.policy


def bearer(header: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header value (or a bare token)."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest else header.strip()
