"""Personal-data erasure (crypto-shredding): what is sealed under whose key, what a shred redacts.

Every personal value is stored sealed under the data key of the identity it belongs to:

* `face:<subject id>`: a wanted subject (`subject.subject_id`, a `subject=` correlation key);
* `plate:<PLATE>`: a number plate, upper-case letters and digits only (`subject.plate`, a
  `plate=` correlation key), so `A 123 bc 02` and `A123BC02` are one identity. A plate is
  keyed as it was read, in its script; the detection archive keys it with Cyrillic look-alikes
  folded to Latin (`fold_lookalikes`), so a shred of a plate destroys the keys of every way of
  writing it with look-alikes (`erasure_identities`), whichever script it was typed in;
* `snapshot:<incident id>`: the incident's snapshot references (one key per incident; of a
  structured reference `{ref, sha256}` only the ref is sealed, the digest stays in the clear);
* `free_text:<incident id>`: the incident's operator notes, which may name anyone (one key per
  incident; a subject's shred takes its incidents' snapshot and free-text keys with it).

`seal_field` walks one event field and hands each personal value to a `Seal` callback; the
keys and the cipher live in `audit/` (this module does no I/O). Structure is kept: mapping
keys and list lengths are not personal, so aggregates still reconstruct from sealed events.

Shredding destroys keys. The incidents that referenced them get `Incident.PersonalDataErased`
naming the data classes erased; `redact_*` apply that erasure to aggregate state and read
models exactly as a replay of the store would read it (`SHREDDED` in place of each value), so
a live view redacted by the event equals a rebuilt one. The `Erasure` aggregate is the record of
one shred: the keys destroyed, the incidents they touched, why and by whom (never the subject).

Event history: Erasure.PersonalDataShredded (version 1).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError
from domain.privacy import SHREDDED, Tag, is_sealed, tagged_fields

__all__ = ["CAUSES", "DataClass", "Erasure", "ErasureConflict", "Identity", "InvalidErasure",
           "Seal", "check_reason", "erasure_identities", "fold_lookalikes", "identity_of",
           "incident_identities", "key_identity", "normalise_plate", "parse_subject",
           "redact_key", "redact_snapshots", "redact_subject", "seal_field", "sealed_fields",
           "snapshot_identity", "unseal_field"]

MAX_REASON = 2000
CAUSES = frozenset({"request", "retention"})
"""Why keys were shredded: a person's or authority's request, or the retention period."""


class InvalidErasure(DomainError):
    """Raised for a malformed subject (`plate:A123BC02`, `face:S7`) or erasure reason."""


class ErasureConflict(DomainError):
    """Raised when an erasure could not be recorded because its incidents kept changing; the
    key store keeps it journalled, so the next shred or retention run records it."""

    def __init__(self, erasure_id: str) -> None:
        self.erasure_id = erasure_id
        super().__init__(f"erasure {erasure_id} was not recorded: its incidents kept changing; "
                         "run the command again")


class DataClass(str, Enum):
    """What a data key protects; retention is set per class."""

    FACE = "face"
    PLATE = "plate"
    SNAPSHOT = "snapshot"
    FREE_TEXT = "free_text"


_SEALED_TAGS = frozenset({Tag.FACE, Tag.PLATE, Tag.SNAPSHOT, Tag.FREE_TEXT})
_SCOPE_CLASS = {"subject": DataClass.FACE, "plate": DataClass.PLATE}
"""Correlation-key scopes that name a person's identity (see `domain.correlation`)."""
_ATTRIBUTE_CLASS = {"subject_id": DataClass.FACE, "plate": DataClass.PLATE}
"""`Incident.subject` entries that are personal (others, like `missed`, are not)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Whose key seals a value: `plate:A123BC02`, `face:S7`, `snapshot:<incident id>`."""

    data_class: DataClass
    value: str

    def __str__(self) -> str:
        return f"{self.data_class.value}:{self.value}"


def normalise_plate(text: str) -> str:
    """Upper-case letters and digits only, as the correlator keys plates."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


_CYRILLIC = "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423\u0425"
_LATIN = "ABEKMHOPCTYX"
_TO_LATIN = str.maketrans(_CYRILLIC, _LATIN)
_TWINS = dict(zip(_LATIN, _CYRILLIC, strict=True))
MAX_SCRIPT_MIXES = 1024
"""A plate with more look-alike letters than log2 of this is erased under its Latin, Cyrillic
and as-typed forms only (plates have a handful of letters; this bounds a hostile subject)."""


def fold_lookalikes(plate: str) -> str:
    """Cyrillic A, VE, IE, KA, EM, EN, O, ER, ES, TE, U, HA → Latin A, B, E, K, M, H, O, P, C,
    T, Y, X (upper case, as `normalise_plate` gives)."""
    return plate.translate(_TO_LATIN)


def erasure_identities(identity: Identity) -> list[Identity]:
    """Every identity whose keys a shred of `identity` destroys: a face is itself; a plate is
    each way of writing it with Cyrillic or Latin look-alikes (the event store keys a plate as
    read; the archive, folded to Latin), so a plate typed in Cyrillic reaches a Latin read and
    the archive, and one typed in Latin a Cyrillic or mixed read."""
    if identity.data_class is not DataClass.PLATE:
        return [identity]
    latin = fold_lookalikes(identity.value)
    choices = [(ch, _TWINS[ch]) if ch in _TWINS else (ch,) for ch in latin]
    if 2 ** sum(len(c) - 1 for c in choices) > MAX_SCRIPT_MIXES:
        forms = {latin, "".join(c[-1] for c in choices), identity.value}
    else:
        forms = {"".join(mix) for mix in itertools.product(*choices)}
    return [Identity(DataClass.PLATE, form) for form in sorted(forms)]


def identity_of(data_class: DataClass, value: str) -> Identity:
    return Identity(data_class, normalise_plate(value) if data_class is DataClass.PLATE else value)


def snapshot_identity(incident_id: object) -> Identity:
    return Identity(DataClass.SNAPSHOT, str(incident_id))


def incident_identities(incident_id: object) -> list[Identity]:
    """The per-incident keys' identities: its snapshots and its free text."""
    return [Identity(DataClass.SNAPSHOT, str(incident_id)),
            Identity(DataClass.FREE_TEXT, str(incident_id))]


def parse_subject(text: str) -> Identity:
    """`plate:A 123 BC 02` → plate:A123BC02, `face:S7` → face:S7; anything else is refused."""
    kind, sep, value = text.strip().partition(":")
    classes = {c.value: c for c in (DataClass.FACE, DataClass.PLATE)}
    if not sep or kind not in classes:
        # the text is not echoed: it is the personal data being erased (and ends up in logs)
        raise InvalidErasure("a subject must be plate:<PLATE> or face:<SUBJECT ID>")
    identity = identity_of(classes[kind], value.strip())
    if not identity.value or len(identity.value) > 200:
        raise InvalidErasure("the subject names no plate or subject id (1..200 characters)")
    return identity


def check_reason(reason: str, identity: Identity | None = None) -> None:
    """A reason is stored in the clear for ever: it must be given and must not name the subject."""
    if not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidErasure(f"a reason must be 1..{MAX_REASON} characters")
    if identity is not None and _names(reason, identity):
        raise InvalidErasure("the reason must not contain the subject's plate or id: it is kept "
                             "in the clear after the shred")


def _names(text: str, identity: Identity) -> bool:
    if identity.data_class is DataClass.PLATE:
        return fold_lookalikes(identity.value) in fold_lookalikes(normalise_plate(text))
    return identity.value.casefold() in text.casefold()


def key_identity(key: str) -> Identity | None:
    """The identity a correlation key names (`plate_match:plate=A123BC02`), if any."""
    _, _, scope = key.partition(":")
    name, sep, value = scope.partition("=")
    data_class = _SCOPE_CLASS.get(name) if sep else None
    return identity_of(data_class, value) if data_class is not None and value else None


# --- sealing plan ------------------------------------------------------------------------------

Seal = Callable[[str, Identity, str], Any]
"""(plaintext, identity, field path) → the sealed stand-in stored in its place."""


@functools.cache
def sealed_fields(event_qualname: str) -> tuple[str, ...]:
    """The fields of an event class that may hold sealed values (`Incident.Opened` → ...)."""
    aggregate, _, name = event_qualname.rpartition(".")
    if aggregate == "CorrelationTrack":
        return ("key",) if name == "Started" else ()
    if aggregate != "Incident":
        return ()
    return tuple(f for f, tags in tagged_fields(name).items() if tags & _SEALED_TAGS)


def seal_field(name: str, value: Any, originator_id: str, seal: Seal) -> Any:
    """`value` of field `name` with each personal value replaced by `seal(...)` (a new copy)."""
    if name in {"incident_key", "key"}:
        identity = key_identity(value) if isinstance(value, str) else None
        return value if identity is None else seal(value, identity, name)
    if name == "subject" and isinstance(value, Mapping):
        return {k: _seal_attribute(k, v, seal) for k, v in value.items()}
    if name == "snapshots" and isinstance(value, list | tuple):
        owner = snapshot_identity(originator_id)
        return [_seal_snapshot(v, owner, seal) for v in value]
    if name == "text" and isinstance(value, str):
        return seal(value, Identity(DataClass.FREE_TEXT, originator_id), name)
    return value


def _seal_snapshot(value: Any, owner: Identity, seal: Seal) -> Any:
    """A bare ref (v1) is sealed whole; a structured one (`{ref, sha256}`) has its ref sealed
    and its digest kept in the clear: the proof that the image existed outlives a shred."""
    if isinstance(value, str):
        return seal(value, owner, "snapshots")
    if isinstance(value, Mapping) and isinstance(value.get("ref"), str):
        return {**value, "ref": seal(value["ref"], owner, "snapshots")}
    return value


def _seal_attribute(name: str, value: Any, seal: Seal) -> Any:
    data_class = _ATTRIBUTE_CLASS.get(name)
    if data_class is None or not isinstance(value, str):
        return value
    return seal(value, identity_of(data_class, value), f"subject.{name}")


def unseal_field(value: Any, open_: Callable[[Mapping[str, Any]], str]) -> Any:
    """`value` with every sealed marker in it replaced by `open_(marker)`."""
    if is_sealed(value):
        return open_(value)
    if type(value) is dict:
        return {k: unseal_field(v, open_) for k, v in value.items()}
    if type(value) is list:
        return [unseal_field(v, open_) for v in value]
    return value


# --- redaction (what a replay reads once keys of `classes` are gone) ---------------------------


def redact_key(key: str, classes: Collection[str]) -> str:
    identity = key_identity(key)
    return SHREDDED if identity is not None and identity.data_class in classes else key


def redact_subject(subject: Mapping[str, Any], classes: Collection[str]) -> dict[str, Any]:
    return {k: SHREDDED if isinstance(v, str) and _ATTRIBUTE_CLASS.get(k) in classes else v
            for k, v in subject.items()}


def redact_snapshots(snapshots: Sequence[Any], classes: Collection[str]) -> list[Any]:
    """Bare refs read as `SHREDDED`; structured ones keep their digest, the ref shredded."""
    if DataClass.SNAPSHOT not in classes:
        return list(snapshots)
    return [SHREDDED if isinstance(s, str)
            else {**s, "ref": SHREDDED} if isinstance(s, Mapping) and isinstance(s.get("ref"), str)
            else s for s in snapshots]


# --- the record of a shred ---------------------------------------------------------------------


class Erasure(Aggregate):
    """One carried-out shred; its id is the erasure id the key store journalled it under."""

    @staticmethod
    def create_id(erasure_id: str) -> UUID:
        return UUID(erasure_id)

    @event("PersonalDataShredded")
    def __init__(self, *, erasure_id: str, keys: Mapping[str, str],
                 incidents: Mapping[str, Sequence[str]], cause: str, reason: str, actor: str,
                 timestamp: datetime) -> None:
        """PersonalDataShredded: `keys` (key id → data class) were destroyed; `incidents` maps
        each incident that held values under them to those key ids. Never names the subject."""
        self.keys = dict(keys)
        self.incidents = {k: list(v) for k, v in incidents.items()}
        self.cause = cause
        self.reason = reason
        self.actor = actor
