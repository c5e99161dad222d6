"""Standard operating procedures and two-person verification, as data.

A procedures document (TOML; the shipped `domain/procedures.toml` or KUZET_PROCEDURES_PATH)
lists, per kind and optionally per site type, a versioned checklist of steps: a text key, a
label per language, a mandatory flag and a deadline relative to the incident's opening. It
also names the kinds whose dispatch needs a second operator's verification
(`two_person_kinds`, default face_match, plate_match, weapon).

`load_procedures(text)` validates every table and reports all problems at once
(`InvalidProcedures`); the composition root reads the file, the domain only parses text.
When an incident opens, the procedure in force is copied onto it (`ProcedureAssigned`: steps
and deadlines as they were), so a later edit of the file never rewrites a past checklist.

    version = 3
    two_person_kinds = ["face_match", "plate_match", "weapon"]

    [[procedures]]
    id = "fire-school"
    kinds = ["fire"]
    site_types = ["school"]            # optional: more specific than a procedure without
    [[procedures.steps]]
    key = "verify_on_camera"
    label = { en = "Verify on camera", ru = "Проверить по камере", kk = "Камерадан тексеру" }
    mandatory = true
    deadline_s = 60                    # optional: no deadline, no escalation

Errors (all `DomainError`):

    InvalidProcedures       the document is malformed (every problem listed)
    IncidentError
    ├── ProcedureIncomplete closing with mandatory steps neither done nor skipped
    └── VerificationRefused a verification path is refused
        ├── NotVerified     dispatch before a second operator verified
        └── SamePerson      the operator who acknowledged tries to verify (or reject)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.errors import DomainError, IncidentError
from domain.kinds import Kind

__all__ = [
    "DEFAULT_TWO_PERSON", "LANGUAGES", "InvalidProcedures", "NotVerified", "Procedure",
    "ProcedureIncomplete", "ProcedureSet", "SamePerson", "Step", "VerificationRefused",
    "load_procedures",
]

LANGUAGES = ("en", "ru", "kk")
"""Every step label is given in each of these (the console's languages)."""
DEFAULT_TWO_PERSON = frozenset({Kind.FACE_MATCH, Kind.PLATE_MATCH, Kind.WEAPON})
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_STEPS = 50
_MAX_LABEL = 200


class InvalidProcedures(DomainError):
    """Raised by `load_procedures` when a procedures document is malformed; lists every
    problem found (`where: what`)."""

    def __init__(self, problems: tuple[str, ...], source: str = "<procedures>") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"invalid procedures in {source}: " + "; ".join(problems))


class ProcedureIncomplete(IncidentError):
    """Raised when an incident is closed while mandatory steps of its procedure are neither
    done nor skipped with a reason, and no supervisor's override reason was given."""

    def __init__(self, incident_id: object, steps: Sequence[str]) -> None:
        self.steps = tuple(steps)
        super().__init__(incident_id, f"cannot close incident {incident_id}: mandatory "
                                      f"step(s) {', '.join(steps)} not done or skipped")


class VerificationRefused(IncidentError):
    """Base of the refused two-person verification paths; `code` names which."""

    code = "REFUSED"


class NotVerified(VerificationRefused):
    """Raised when an incident of a two-person kind is dispatched before a second operator
    verified it."""

    code = "NOT_VERIFIED"

    def __init__(self, incident_id: object) -> None:
        super().__init__(incident_id, f"incident {incident_id} needs a second operator's "
                                      "verification before dispatch")


class SamePerson(VerificationRefused):
    """Raised when the operator who acknowledged an incident tries to verify it or reject its
    verification: the second pair of eyes must be someone else's."""

    code = "SAME_PERSON"

    def __init__(self, incident_id: object, actor: str) -> None:
        self.actor = actor
        super().__init__(incident_id, f"{actor} acknowledged incident {incident_id}; another "
                                      "operator must verify it")


@dataclass(frozen=True, slots=True)
class Step:
    """One checklist step: `key` (stable text id), labels per language, whether closing needs
    it, and its deadline in seconds after the incident opened (None: no deadline)."""

    key: str
    labels: Mapping[str, str]
    mandatory: bool
    deadline_s: int | None

    def as_fact(self) -> dict[str, Any]:
        """The step as `ProcedureAssigned` stores it (plain JSON values)."""
        return {"key": self.key, "labels": dict(self.labels), "mandatory": self.mandatory,
                "deadline_s": self.deadline_s}


@dataclass(frozen=True, slots=True)
class Procedure:
    """A checklist for some kinds (and, if `site_types` is not empty, only those sites)."""

    id: str
    kinds: frozenset[Kind]
    site_types: frozenset[str]
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class ProcedureSet:
    """Every procedure of one document version, plus the two-person kinds."""

    version: int = 0
    procedures: tuple[Procedure, ...] = ()
    two_person_kinds: frozenset[Kind] = frozenset()

    def for_incident(self, kind: str, site_type: str | None) -> Procedure | None:
        """The procedure for `kind` at a site of `site_type`: one naming the site type wins
        over one for every site; None when the kind has none."""
        general = None
        for p in self.procedures:
            if Kind(kind) not in p.kinds:
                continue
            if p.site_types and site_type in p.site_types:
                return p
            if not p.site_types and general is None:
                general = p
        return general

    def ref(self, procedure: Procedure) -> str:
        """`id@version`, recorded on the incident."""
        return f"{procedure.id}@{self.version}"

    def needs_two_people(self, kind: str) -> bool:
        return Kind(kind) in self.two_person_kinds


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def kinds(self, where: str, raw: object) -> frozenset[Kind]:
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            self.add(where, f"expected a list of kind names, got {raw!r}")
            return frozenset()
        out = set()
        for name in raw:
            try:
                out.add(Kind(name))
            except ValueError:
                self.add(where, f"unknown kind {name!r}")
        return frozenset(out)


def _labels(p: _Problems, where: str, raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        p.add(where, f"expected a table of {', '.join(LANGUAGES)} labels, got {raw!r}")
        return {}
    for lang in LANGUAGES:
        text = raw.get(lang)
        if not isinstance(text, str) or not 0 < len(text.strip()) <= _MAX_LABEL:
            p.add(f"{where}.{lang}", f"expected a label of 1..{_MAX_LABEL} characters")
    for extra in sorted(set(raw) - set(LANGUAGES)):
        p.add(f"{where}.{extra}", f"unknown language (expected {', '.join(LANGUAGES)})")
    return {lang: str(raw.get(lang, "")) for lang in LANGUAGES}


def _step(p: _Problems, where: str, raw: object) -> Step | None:
    if not isinstance(raw, dict):
        p.add(where, "expected a table")
        return None
    for extra in sorted(set(raw) - {"key", "label", "mandatory", "deadline_s"}):
        p.add(f"{where}.{extra}", "unknown setting")
    key, mandatory, deadline = raw.get("key"), raw.get("mandatory", False), raw.get("deadline_s")
    if not isinstance(key, str) or not _KEY.match(key):
        p.add(f"{where}.key", f"expected snake_case text of 1..64 characters, got {key!r}")
    if not isinstance(mandatory, bool):
        p.add(f"{where}.mandatory", f"expected true or false, got {mandatory!r}")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, int)
                                 or not 0 < deadline <= 30 * 86400):
        p.add(f"{where}.deadline_s", f"expected whole seconds in [1, 2592000], got {deadline!r}")
    labels = _labels(p, f"{where}.label", raw.get("label"))
    return Step(str(key), labels, bool(mandatory),
                deadline if isinstance(deadline, int) else None)


def _procedure(p: _Problems, i: int, raw: object) -> Procedure | None:
    where = f"procedures[{i}]"
    if not isinstance(raw, dict):
        p.add(where, "expected a table")
        return None
    for extra in sorted(set(raw) - {"id", "kinds", "site_types", "steps"}):
        p.add(f"{where}.{extra}", "unknown setting")
    pid, sites, raw_steps = raw.get("id"), raw.get("site_types", []), raw.get("steps", [])
    if not isinstance(pid, str) or not _KEY.match(pid.replace("-", "_")):
        p.add(f"{where}.id", f"expected a short id, got {pid!r}")
    kinds = p.kinds(f"{where}.kinds", raw.get("kinds"))
    if not kinds:
        p.add(f"{where}.kinds", "name at least one kind")
    if not isinstance(sites, list) or not all(isinstance(s, str) and s for s in sites):
        p.add(f"{where}.site_types", f"expected a list of site types, got {sites!r}")
        sites = []
    if not isinstance(raw_steps, list) or not 0 < len(raw_steps) <= _MAX_STEPS:
        p.add(f"{where}.steps", f"expected 1..{_MAX_STEPS} steps")
        raw_steps = []
    steps = tuple(s for n, r in enumerate(raw_steps) if (s := _step(p, f"{where}.steps[{n}]", r)))
    keys = [s.key for s in steps]
    for dup in sorted({k for k in keys if keys.count(k) > 1}):
        p.add(f"{where}.steps", f"step key {dup!r} appears more than once")
    return Procedure(str(pid), kinds, frozenset(sites), steps)


def _overlaps(p: _Problems, procedures: Sequence[Procedure]) -> None:
    """Two procedures for the same kind and the same site scope would make the choice
    depend on file order: refused."""
    seen: dict[tuple[Kind, str], str] = {}
    for proc in procedures:
        for kind in proc.kinds:
            for scope in proc.site_types or {"*"}:
                other = seen.setdefault((kind, scope), proc.id)
                if other != proc.id:
                    p.add(f"procedures.{proc.id}", f"{kind.value} at site type {scope!r} is "
                                                   f"already covered by {other}")


def load_procedures(text: str, source: str = "<procedures>") -> ProcedureSet:
    """Parse and validate a procedures TOML document; raises `InvalidProcedures` listing every
    problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidProcedures((f"not valid TOML: {exc}",), source) from None
    p = _Problems()
    for extra in sorted(set(doc) - {"version", "two_person_kinds", "procedures"}):
        p.add(extra, "unknown setting")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version <= 10**6:
        p.add("version", f"expected an integer in [1, 1000000], got {version!r}")
    two = p.kinds("two_person_kinds", doc.get("two_person_kinds",
                                              sorted(k.value for k in DEFAULT_TWO_PERSON)))
    raw = doc.get("procedures", [])
    if not isinstance(raw, list):
        p.add("procedures", "expected an array of tables ([[procedures]])")
        raw = []
    procedures = tuple(x for i, r in enumerate(raw) if (x := _procedure(p, i, r)))
    _overlaps(p, procedures)
    if p.items:
        raise InvalidProcedures(tuple(p.items), source)
    return ProcedureSet(version if isinstance(version, int) else 0, procedures, two)
