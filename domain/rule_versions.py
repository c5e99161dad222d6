"""Rule versions you can prove: each activation of a rules file is a recorded fact.

`RuleActivation.RulesActivated` records the rules file's `version`, the SHA-256 `digest` of
its text, who activated it (`author`), where it was read from (`source`) and when. Incidents
name the version that opened them in their actor (`rule:<group>@<version>`,
`RuleSet.rule_ref`), so an incident leads to the exact rules text through the activation of
its version. `check_activation` refuses a second, different text under a version already
activated: one version, one digest. `activation_needed` says whether a process starting with
a rules file must record its activation (its version and digest are not the latest one's),
and `activation_id` gives that activation an id derived from the one it follows, so workers
starting together with the same file record it once (the later save collides).

Event history: RuleActivation.RulesActivated (version 1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

__all__ = ["ACTIVATION_TOPIC", "InvalidActivation", "RuleActivation", "activation_id",
           "activation_needed", "check_activation", "rules_digest"]

ACTIVATION_TOPIC = "domain.rule_versions:RuleActivation.RulesActivated"
_ACTIVATIONS = UUID("5f0c7a52-27a4-4c53-9a8e-1d6f3b1e2c40")


class InvalidActivation(DomainError):
    """Raised when an activation lacks an author or a UTC time, or names a version already
    activated with another digest (the message names version and both digests' prefixes)."""


def rules_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_activation(version: int, digest: str,
                     earlier: Iterable[tuple[int, str]]) -> None:
    """Refuse `version` if an earlier activation of it had another digest."""
    for v, d in earlier:
        if v == version and d != digest:
            raise InvalidActivation(f"rules version {version} was activated with digest "
                                    f"{d[:12]}..., this text is {digest[:12]}...: give the "
                                    "changed rules a new version")


def activation_needed(version: int, digest: str,
                      earlier: Sequence[tuple[int, str]]) -> bool:
    """Whether starting with (`version`, `digest`) must record an activation: not when it is
    the latest activation already (oldest first in `earlier`); refused (`InvalidActivation`)
    when `version` was activated with another digest."""
    check_activation(version, digest, earlier)
    return not earlier or tuple(earlier[-1]) != (version, digest)


def activation_id(version: int, digest: str, previous: UUID | None) -> UUID:
    """The id of activating (`version`, `digest`) right after activation `previous` (None: the
    first): the same in every process that does it, so only one of them can save it; a
    rollback to an older version later follows another activation and gets a new id."""
    return uuid5(_ACTIVATIONS, f"{previous or ''}:{version}:{digest}")


class RuleActivation(Aggregate):
    """One activation of a rules file (a new aggregate each time: re-activating an older
    version after a rollback is a fact of its own)."""

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @event("RulesActivated")
    def __init__(self, version: int, digest: str, author: str, source: str,
                 at: datetime) -> None:
        self.version, self.digest, self.author = version, digest, author
        self.source, self.at = source, at

    @classmethod
    def activate(cls, *, version: int, digest: str, author: str, source: str,
                 at: datetime, ident: UUID | None = None) -> RuleActivation:
        """A new activation; `ident` (from `activation_id`) instead of a random id."""
        if not 0 < len(author) <= 200 or at.tzinfo is None or len(digest) != 64:
            raise InvalidActivation("an activation needs an author (1..200 characters), a "
                                    "time with a UTC offset and a SHA-256 digest")
        if ident is None:
            return cls(version=version, digest=digest, author=author, source=source, at=at)
        return cls._create(cls.RulesActivated,  # type: ignore[attr-defined]
                           id=ident, version=version, digest=digest, author=author,
                           source=source, at=at)
