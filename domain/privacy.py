"""Data minimisation: sensitivity tags on event fields and a keep/mask/drop policy per agency.

Every field of an incident event that can identify a person carries tags (`FIELD_TAGS`):
`face` (a wanted subject's id), `plate` (a number plate), `snapshot` (an image reference),
`minor` (anything about a child), `free_text` (operator notes, which may name anyone). Each
agency has a policy mapping a tag to an action; a field takes the strictest action among its
tags. `minimise(event_name, data, agency)` returns the copy that agency may see. The police keep
everything; the situation centre sees masked values; the other agencies see no tagged field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import Enum
from typing import Any

from domain.kinds import Agency

__all__ = [
    "AUDITOR",
    "DEFAULT_POLICIES",
    "FIELD_TAGS",
    "IDENTITY_SCOPES",
    "PERSONAL_TAGS",
    "READER_POLICIES",
    "SEALED",
    "SHREDDED",
    "STATE_TAGS",
    "Action",
    "Tag",
    "action_for",
    "is_sealed",
    "mask",
    "minimise",
    "minimise_fields",
    "split_key",
    "tagged_fields",
]

SEALED = "$sealed"
"""The marker key of a sealed value: `{"$sealed": 1, "k": key id, "f": field, "c": ciphertext}`.

Personal values are stored (and relayed) sealed under a per-subject key (`eventstore.sealing`);
readers with the key see the plaintext, and once the key is shredded they see `SHREDDED`."""
SHREDDED = "[shredded]"
"""What a sealed value reads as once its key was destroyed."""


def is_sealed(value: Any) -> bool:
    """True for a sealed-value marker (a dict with `SEALED` set to 1)."""
    return type(value) is dict and value.get(SEALED) == 1


class Tag(str, Enum):
    FACE = "face"
    PLATE = "plate"
    SNAPSHOT = "snapshot"
    MINOR = "minor"
    FREE_TEXT = "free_text"


class Action(int, Enum):
    """Ordered by strictness: a field with several tags takes the largest action."""

    KEEP = 0
    MASK = 1
    DROP = 2


_IDENTITY = frozenset({Tag.FACE, Tag.PLATE})

FIELD_TAGS: Mapping[str, Mapping[str, frozenset[Tag]]] = {
    "*": {"subject": _IDENTITY, "incident_key": _IDENTITY, "snapshots": frozenset({Tag.SNAPSHOT})},
    "NoteAdded": {"text": frozenset({Tag.FREE_TEXT})},
    "AppealAttached": {"text": frozenset({Tag.FREE_TEXT})},
    "AgencyResponded": {"reason": frozenset({Tag.FREE_TEXT})},
    "LegalHoldPlaced": {"reason": frozenset({Tag.FREE_TEXT})},
    "LegalHoldReleased": {"reason": frozenset({Tag.FREE_TEXT})},
    "Merged": {"reason": frozenset({Tag.FREE_TEXT})},
    "MergedInto": {"reason": frozenset({Tag.FREE_TEXT})},
    "EvidenceSplitOff": {"reason": frozenset({Tag.FREE_TEXT})},
    "StepSkipped": {"reason": frozenset({Tag.FREE_TEXT})},
    "ProcedureOverridden": {"reason": frozenset({Tag.FREE_TEXT})},
    "VerificationRejected": {"reason": frozenset({Tag.FREE_TEXT})},
}
"""Tags per event name and field name; "*" applies to every incident event.

Free text written by people (notes, an agency's reason for declining, a legal-hold reason)
may name anyone, so only agencies whose policy keeps free text receive it.

`incident_key` is tagged because it embeds the correlation key (e.g. `plate=A123BC02`)."""

_ALL_DROP = dict.fromkeys(Tag, Action.DROP)
DEFAULT_POLICIES: Mapping[str, Mapping[Tag, Action]] = {
    Agency.POLICE.value: dict.fromkeys(Tag, Action.KEEP),
    Agency.SITUATION_CENTRE.value: {**dict.fromkeys(Tag, Action.MASK), Tag.FREE_TEXT: Action.KEEP},
    Agency.EMERGENCY.value: _ALL_DROP,
    Agency.ZHKKH.value: _ALL_DROP,
    Agency.EDUCATION.value: _ALL_DROP,
}


AUDITOR = "auditor"
"""The reading audience of auditors (not an agency): they see every field, read-only."""
READER_POLICIES: Mapping[str, Mapping[Tag, Action]] = {
    **DEFAULT_POLICIES, AUDITOR: dict.fromkeys(Tag, Action.KEEP),
}
"""Who reads through the API: each agency by its feed's policy, plus auditors. One table:
the API masks its answers with exactly the policies the agency feeds use."""

STATE_TAGS: Mapping[str, frozenset[Tag]] = {
    "key": _IDENTITY, "subject": _IDENTITY, "sightings": _IDENTITY,
    "snapshots": frozenset({Tag.SNAPSHOT}),
}
"""Tags of the fields of an incident's state and of read-model rows: the correlation key
(may name a subject or plate), the subject, where and when it was seen, snapshot references."""
PERSONAL_TAGS = frozenset({Tag.FACE, Tag.PLATE, Tag.SNAPSHOT})
"""What identifies a person directly; revealing one in the clear is logged (access log)."""
IDENTITY_SCOPES = frozenset({"subject", "plate"})
"""Correlation-key scopes whose value is a person's identity (`face_match:subject=S7`)."""


def split_key(key: str) -> tuple[str, str | None]:
    """A correlation key `kind:scope=value` as (`kind:scope=`, value) when its scope names a
    person, else (key, None): masking replaces the value as a whole, whatever it contains."""
    kind, sep, scope = key.partition(":")
    name, eq, value = scope.partition("=")
    if not sep or not eq or name not in IDENTITY_SCOPES:
        return key, None
    return f"{kind}:{name}=", value


def tagged_fields(event_name: str) -> Mapping[str, frozenset[Tag]]:
    return {**FIELD_TAGS["*"], **FIELD_TAGS.get(event_name, {})}


def action_for(agency: str, tags: frozenset[Tag],
               policies: Mapping[str, Mapping[Tag, Action]] = DEFAULT_POLICIES) -> Action:
    """The strictest action of `agency`'s policy over `tags`; unknown agencies drop."""
    policy = policies.get(agency, _ALL_DROP)
    return max((policy.get(t, Action.DROP) for t in tags), default=Action.KEEP)


def mask(value: Any) -> str:
    """A stable, non-reversible stand-in (lets a viewer see that two values are equal).

    Sealed values are masked by their key id, never their ciphertext: the pseudonym of a
    subject is the same on every event and every re-send, and says nothing about the value.
    """
    digest = hashlib.sha256(repr(_pseudonymous(value)).encode()).hexdigest()[:12]
    return f"masked:{digest}"


def _pseudonymous(value: Any) -> Any:
    """`value` with each sealed marker replaced by its key id (plain values unchanged)."""
    if is_sealed(value):
        return f"key:{value['k']}"
    if isinstance(value, Mapping):
        return {k: _pseudonymous(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pseudonymous(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_pseudonymous(v) for v in value)
    return value


def minimise(event_name: str, data: Mapping[str, Any], agency: str,
             policies: Mapping[str, Mapping[Tag, Action]] = DEFAULT_POLICIES) -> dict[str, Any]:
    """The copy of an event's `data` that `agency` may see."""
    return minimise_fields(data, tagged_fields(event_name), agency, policies)


def minimise_fields(data: Mapping[str, Any], tags: Mapping[str, frozenset[Tag]], agency: str,
                    policies: Mapping[str, Mapping[Tag, Action]] = DEFAULT_POLICIES
                    ) -> dict[str, Any]:
    """The copy of `data` that `agency` may see, each field by its `tags` (untagged: kept)."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        action = action_for(agency, tags[name], policies) if name in tags else Action.KEEP
        if action is Action.KEEP:
            out[name] = value
        elif action is Action.MASK:
            out[name] = mask(value)
    return out
