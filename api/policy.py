"""Masking by field, from the one privacy policy (`domain.privacy`).

A `Reveal` is one audience's reading of personal fields (its policy's name: an agency, or the
auditors). Every builder of an answer (incident, history entry, view row, subscription payload)
asks it field by field: KEEP shows the value, MASK shows a stable pseudonym (`privacy.mask`),
DROP leaves it out (null). Correlation keys are split structurally (`privacy.split_key`): the
identity after `scope=` is masked as a whole, whatever characters it holds. It also says which
personal fields an answer revealed in the clear, for the access log (`api.access`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from api.state import EventRecord, IncidentState, jsonable
from domain.privacy import (
    PERSONAL_TAGS,
    READER_POLICIES,
    STATE_TAGS,
    Action,
    action_for,
    mask,
    minimise,
    split_key,
    tagged_fields,
)

__all__ = ["WITHHELD", "Reveal", "reveal_for"]

WITHHELD = "[withheld]"
"""What a dropped identity reads as inside a correlation key."""
_PERSONAL_ATTRIBUTES = frozenset({"subject_id", "plate"})


class Reveal:
    """Personal fields as the policy named `name` shows them (unknown names: everything dropped)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.actions = {f: action_for(name, tags, READER_POLICIES)
                        for f, tags in STATE_TAGS.items()}

    @property
    def sees_personal(self) -> bool:
        return all(a is Action.KEEP for a in self.actions.values())

    @property
    def keeps_any(self) -> bool:
        """Whether any personal field reads in the clear (else nothing is ever logged)."""
        return any(a is Action.KEEP for a in self.actions.values())

    def key(self, key: str) -> str:
        prefix, value = split_key(key)
        action = self.actions["key"]
        if value is None or action is Action.KEEP:
            return key
        return prefix + (mask(value) if action is Action.MASK else WITHHELD)

    def subject(self, subject: Mapping[str, Any]) -> Any:
        """The subject in the clear, its pseudonym, or None; an empty subject stays empty."""
        if not subject:
            return dict(subject)
        action = self.actions["subject"]
        if action is Action.KEEP:
            return jsonable(dict(subject))
        return mask(dict(subject)) if action is Action.MASK else None

    def listed(self, field: str, values: Any) -> Any:
        """A list-valued personal field (`snapshots`, `sightings`): kept, or None."""
        return values if self.actions[field] is Action.KEEP else None

    def details(self, record: EventRecord) -> dict[str, Any]:
        """The event's own fields, minimised by the event's field tags."""
        return minimise(record.type, jsonable(record.fields), self.name, READER_POLICIES)

    # --- what was revealed in the clear (for the access log) ------------------------------

    def revealed_in_state(self, s: IncidentState) -> list[str]:
        out = []
        if self.actions["subject"] is Action.KEEP and _PERSONAL_ATTRIBUTES & s.subject.keys():
            out.append("subject")
        if self.actions["key"] is Action.KEEP and split_key(s.key)[1] is not None:
            out.append("key")
        return out

    def revealed_in_row(self, doc: Mapping[str, Any]) -> list[str]:
        """Personal fields of a police-view row shown in the clear."""
        return [f for f in ("subject", "snapshots", "sightings")
                if self.actions[f] is Action.KEEP and doc.get(f)]

    def revealed_in_record(self, record: EventRecord) -> list[str]:
        tags = tagged_fields(record.type)
        return [name for name, value in record.fields.items()
                if value and name in tags and tags[name] & PERSONAL_TAGS
                and action_for(self.name, tags[name], READER_POLICIES) is Action.KEEP]


@cache
def reveal_for(name: str) -> Reveal:
    """The (shared, immutable in use) `Reveal` of a policy name."""
    return Reveal(name)
