"""Correlation rules as data: a TOML document validated into frozen `RuleSet` values.

`load_rules(text)` checks every table and reports all problems at once (`InvalidRules`). The
composition root reads the file (the shipped `domain/rules.toml` or KUZET_RULES_PATH); the
domain only parses text, so it stays free of I/O.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Any

from domain.errors import InvalidRules
from domain.kinds import Agency, Kind

__all__ = [
    "SEVERITIES",
    "GroupRule",
    "KindRule",
    "RuleSet",
    "Schedule",
    "load_rules",
]

SEVERITIES = {"low": 1, "medium": 2, "high": 3, "critical": 4}
KEY_SCOPES = frozenset({"source", "site", "subject", "plate", "cell"})
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_GROUP_FIELDS = frozenset({
    "key", "cell_m", "severity", "sla_ack_s", "agencies", "auto_resolve_after_s",
    "reopen_within_s", "inhibits",
})
_KIND_FIELDS = frozenset({"group", "incident", "min_score", "threshold", "min_hits", "window_s"})
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_OFFSET = re.compile(r"^([+-])([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class KindRule:
    """When detections of one kind count, and how many make an incident."""

    kind: Kind
    group: Kind
    incident: bool
    min_score: float
    threshold: float
    min_hits: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class GroupRule:
    """What an incident of a group is: its key, severity, SLA, routing, and timers."""

    kind: Kind
    key: str
    cell_m: float
    severity: int
    sla_ack: timedelta
    agencies: tuple[Agency, ...]
    auto_resolve_after: timedelta | None
    reopen_within: timedelta
    inhibits: frozenset[Kind]


@dataclass(frozen=True, slots=True)
class Schedule:
    """An expected event: a `kind` detection at `site_id` between start and end, local time."""

    site_id: str
    kind: Kind
    days: frozenset[int]
    start_minute: int
    end_minute: int
    utc_offset: timezone

    @property
    def id(self) -> str:
        return f"{self.kind.value}:{self.site_id}:{self.start_minute}-{self.end_minute}"


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: int
    allowed_lateness: timedelta
    kinds: Mapping[Kind, KindRule]
    groups: Mapping[Kind, GroupRule]
    schedules: tuple[Schedule, ...] = field(default=())
    appeal_categories: Mapping[str, Kind] = field(default_factory=dict)
    """A citizen's appeal of category C joins the incidents of kind `appeal_categories[C]`
    (a reported dump and a detected dump at one site are one incident); other categories
    make `citizen_report` incidents of their own."""
    late_evidence: timedelta = timedelta(days=1)
    """How long after an incident's resolution detections observed before it still join it
    as late evidence (later ones are skipped, counted as such)."""

    def group_of(self, kind: Kind) -> GroupRule:
        return self.groups[self.kinds[kind].group]

    def group_kind(self, kind: Kind, attributes: Mapping[str, Any]) -> Kind:
        """The group a detection joins: its kind's, or for an appeal its category's."""
        if kind is Kind.CITIZEN_REPORT:
            mapped = self.appeal_categories.get(str(attributes.get("category", "")))
            if mapped is not None:
                return self.kinds[mapped].group
        return self.kinds[kind].group

    def rule_ref(self, group: Kind) -> str:
        """`rule_id@version`, recorded as the actor of every rule-made decision."""
        return f"rule:{group.value}@{self.version}"


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def number(self, t: Mapping[str, Any], where: str, name: str, lo: float, hi: float,
               default: float | None = None, *, integer: bool = False) -> float:
        value = t.get(name, default)
        ok_type = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type) or not lo <= value <= hi:
            shape = "an integer" if integer else "a number"
            self.add(f"{where}.{name}", f"expected {shape} in [{lo}, {hi}], got {value!r}")
            return lo
        return float(value)


def _kind(p: _Problems, where: str, value: object) -> Kind | None:
    try:
        return Kind(value)
    except ValueError:
        p.add(where, f"unknown kind {value!r}")
        return None


def _kind_rule(p: _Problems, name: Kind, t: Mapping[str, Any]) -> KindRule:
    where = f"kinds.{name.value}"
    group = _kind(p, f"{where}.group", t.get("group", name.value)) or name
    incident = t.get("incident", True)
    if not isinstance(incident, bool):
        p.add(f"{where}.incident", f"expected true or false, got {incident!r}")
    return KindRule(
        kind=name,
        group=group,
        incident=bool(incident),
        min_score=p.number(t, where, "min_score", 0, 1, 0.0),
        threshold=p.number(t, where, "threshold", 0, 1, 0.0),
        min_hits=int(p.number(t, where, "min_hits", 1, 10_000, 1, integer=True)),
        window=timedelta(seconds=p.number(t, where, "window_s", 1, 30 * 86400, 60, integer=True)),
    )


def _group_rule(p: _Problems, name: Kind, t: Mapping[str, Any]) -> GroupRule:
    where = f"kinds.{name.value}"
    key = t.get("key", "source")
    if key not in KEY_SCOPES:
        p.add(f"{where}.key", f"expected one of {sorted(KEY_SCOPES)}, got {key!r}")
    severity = t.get("severity", "medium")
    if severity not in SEVERITIES:
        p.add(f"{where}.severity", f"expected one of {list(SEVERITIES)}, got {severity!r}")
    agencies: list[Agency] = []
    for value in t.get("agencies", ["situation_centre"]):
        try:
            agencies.append(Agency(value))
        except ValueError:
            p.add(f"{where}.agencies", f"unknown agency {value!r}")
    inhibits = {k for v in t.get("inhibits", []) if (k := _kind(p, f"{where}.inhibits", v))}
    auto = p.number(t, where, "auto_resolve_after_s", 0, 365 * 86400, 0, integer=True)
    return GroupRule(
        kind=name,
        key=str(key),
        cell_m=p.number(t, where, "cell_m", 1, 10_000, 25),
        severity=SEVERITIES.get(str(severity), 2),
        sla_ack=timedelta(seconds=p.number(t, where, "sla_ack_s", 1, 30 * 86400, 300,
                                           integer=True)),
        agencies=tuple(dict.fromkeys(agencies)),
        auto_resolve_after=timedelta(seconds=auto) if auto else None,
        reopen_within=timedelta(seconds=p.number(t, where, "reopen_within_s", 0, 365 * 86400,
                                                 600, integer=True)),
        inhibits=frozenset(inhibits),
    )


def _schedule(p: _Problems, i: int, t: Mapping[str, Any]) -> Schedule | None:
    where = f"schedules[{i}]"
    site, kind = t.get("site_id"), _kind(p, f"{where}.kind", t.get("kind"))
    days = [DAYS.index(d) for d in t.get("days", []) if d in DAYS]
    if len(days) != len(t.get("days", [])) or not days:
        p.add(f"{where}.days", f"expected a non-empty list of {', '.join(DAYS)}")
    times = [_HHMM.match(str(t.get(k, ""))) for k in ("start", "end")]
    offset = _OFFSET.match(str(t.get("utc_offset", "+00:00")))
    if not isinstance(site, str) or not site:
        p.add(f"{where}.site_id", f"expected a site id, got {site!r}")
    if not all(times) or offset is None:
        p.add(where, "start/end must be HH:MM and utc_offset ±HH:MM")
        return None
    start, end = (int(m[1]) * 60 + int(m[2]) for m in times if m)
    if end <= start:
        p.add(where, f"end {t.get('end')} must be after start {t.get('start')}")
    sign = -1 if offset[1] == "-" else 1
    tz = timezone(sign * timedelta(hours=int(offset[2]), minutes=int(offset[3])))
    if kind is None or not isinstance(site, str):
        return None
    return Schedule(site, kind, frozenset(days), start, end, tz)


def _appeal_categories(p: _Problems, table: object, kinds: Mapping[Kind, KindRule]
                       ) -> dict[str, Kind]:
    """`[appeal_categories]`: category = "kind" whose incidents an appeal joins."""
    if not isinstance(table, dict):
        p.add("appeal_categories", "expected a table of category = \"kind\"")
        return {}
    out = {}
    for category, name in table.items():
        kind = _kind(p, f"appeal_categories.{category}", name)
        if kind is None:
            continue
        if kind in kinds and not kinds[kind].incident:
            p.add(f"appeal_categories.{category}", f"{kind.value} opens no incidents")
            continue
        out[str(category)] = kind
    return out


def load_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Parse and validate a rules TOML document; raises `InvalidRules` listing every problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRules((f"not valid TOML: {exc}",), source) from None
    p = _Problems()
    version = int(p.number(doc, "rules", "version", 1, 1_000_000, None, integer=True))
    lateness = p.number(doc, "rules", "allowed_lateness_s", 0, 3600, 30, integer=True)
    late_evidence = p.number(doc, "rules", "late_evidence_s", 0, 30 * 86400, 86400,
                             integer=True)
    kinds: dict[Kind, KindRule] = {}
    tables: dict[Kind, Mapping[str, Any]] = {}
    for name, table in dict(doc.get("kinds", {})).items():
        kind = _kind(p, f"kinds.{name}", name)
        if kind is None or not isinstance(table, dict):
            continue
        for extra in sorted(set(table) - _GROUP_FIELDS - _KIND_FIELDS):
            p.add(f"kinds.{name}.{extra}", "unknown setting")
        kinds[kind], tables[kind] = _kind_rule(p, kind, table), table
    for kind in Kind:
        if kind not in kinds:
            p.add(f"kinds.{kind.value}", "missing: every kind needs a rule")
    groups = {k: _group_rule(p, k, tables[k]) for k, r in kinds.items() if r.group == k}
    for kind, rule in kinds.items():
        if rule.group != kind:
            if rule.group not in groups:
                p.add(f"kinds.{kind.value}.group", f"{rule.group.value} is not a group's own kind")
            for name in sorted(_GROUP_FIELDS & set(tables[kind])):
                p.add(f"kinds.{kind.value}.{name}", f"set it on the group kind {rule.group.value}")
    schedules = tuple(
        s for i, t in enumerate(doc.get("schedules", [])) if (s := _schedule(p, i, t))
    )
    categories = _appeal_categories(p, doc.get("appeal_categories", {}), kinds)
    if p.items:
        raise InvalidRules(tuple(p.items), source)
    return RuleSet(version, timedelta(seconds=lateness), kinds, groups, schedules,
                   categories, timedelta(seconds=late_evidence))
