"""Routing policy as data: which agencies are told about an incident (kind, place, severity).

A deployment describes its sites (district, contractor, school) and its routes in TOML; the
composition root parses the text and passes the mapping to `load_sites` / `load_routing`.
`RoutingPolicy.agencies_for` is the one place the fan-out is decided: the union of the rule's
own agencies and every matching route, in a stable order. The result is what the incident's
`Opened.agencies` and later `RoutedTo` events record, so views and topics agree on who was told.

    [sites."school-12"]                  [[routes]]
    district = "almaly"                   kinds = ["fire", "fight", "weapon"]
    contractor = "tazalyk-1"              site_types = ["school"]
    type = "school"                       min_severity = 2
    school = "School No. 12"              agencies = ["education"]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import DomainError
from domain.kinds import Agency, Kind

__all__ = ["InvalidRouting", "Route", "RoutingPolicy", "Site", "SiteDirectory", "load_routing",
           "load_sites"]


class InvalidRouting(DomainError):
    """Raised when a sites or routes table is malformed; the message names the entry and key."""


@dataclass(frozen=True, slots=True)
class Site:
    """A place cameras watch: its district, waste contractor and (for schools) school name."""

    site_id: str
    district: str | None = None
    contractor: str | None = None
    type: str | None = None
    school: str | None = None

    @property
    def is_school(self) -> bool:
        return self.type in {"school", "kindergarten"}


@dataclass(frozen=True, slots=True)
class SiteDirectory:
    """Sites by id; unknown sites resolve to a bare `Site` (no district, no contractor)."""

    sites: Mapping[str, Site]

    def get(self, site_id: str | None) -> Site | None:
        if site_id is None:
            return None
        return self.sites.get(site_id) or Site(site_id)


@dataclass(frozen=True, slots=True)
class Route:
    """Tell `agencies` about incidents matching every non-empty criterion here."""

    agencies: tuple[str, ...]
    kinds: frozenset[str] = frozenset()
    districts: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    site_types: frozenset[str] = frozenset()
    min_severity: int = 0

    def matches(self, kind: str, site: Site | None, severity: int) -> bool:
        return (
            (not self.kinds or kind in self.kinds)
            and (not self.districts or (site is not None and site.district in self.districts))
            and (not self.sites or (site is not None and site.site_id in self.sites))
            and (not self.site_types or (site is not None and site.type in self.site_types))
            and severity >= self.min_severity
        )


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Routes plus the site directory they refer to."""

    routes: tuple[Route, ...] = ()
    sites: SiteDirectory = SiteDirectory({})

    def agencies_for(self, kind: str, site_id: str | None, severity: int,
                     base: Iterable[str] = ()) -> tuple[str, ...]:
        """`base` (the rule's agencies) plus every matching route's, without duplicates."""
        site = self.sites.get(site_id)
        found = list(base)
        for route in self.routes:
            if route.matches(kind, site, severity):
                found.extend(route.agencies)
        return tuple(dict.fromkeys(found))


def _strings(entry: str, key: str, raw: Any, allowed: Iterable[str] | None = None
             ) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise InvalidRouting(f"{entry}.{key}={raw!r}: expected a list of strings")
    known = set(allowed) if allowed is not None else None
    bad = [x for x in raw if known is not None and x not in known]
    if bad:
        raise InvalidRouting(f"{entry}.{key}: unknown value(s) {bad!r}")
    return frozenset(raw)


def load_sites(data: Mapping[str, Any]) -> SiteDirectory:
    """Parse `{"sites": {id: {district, contractor, type, school}}}` (a parsed TOML file)."""
    sites: dict[str, Site] = {}
    for site_id, raw in dict(data.get("sites", {})).items():
        if not isinstance(raw, Mapping):
            raise InvalidRouting(f"sites.{site_id}={raw!r}: expected a table")
        extra = set(raw) - {"district", "contractor", "type", "school"}
        if extra:
            raise InvalidRouting(f"sites.{site_id}: unknown key(s) {sorted(extra)}")
        sites[site_id] = Site(site_id, raw.get("district"), raw.get("contractor"),
                              raw.get("type"), raw.get("school"))
    return SiteDirectory(sites)


def load_routing(data: Mapping[str, Any], sites: SiteDirectory | None = None) -> RoutingPolicy:
    """Parse `[[routes]]` tables (kinds, districts, sites, site_types, min_severity, agencies)."""
    routes = []
    for n, raw in enumerate(data.get("routes", [])):
        entry = f"routes[{n}]"
        if "agencies" not in raw:
            raise InvalidRouting(f"{entry}: missing key 'agencies'")
        severity = raw.get("min_severity", 0)
        if not isinstance(severity, int):
            raise InvalidRouting(f"{entry}.min_severity={severity!r}: expected an integer")
        routes.append(Route(
            agencies=tuple(sorted(_strings(entry, "agencies", raw["agencies"],
                                           [a.value for a in Agency]))),
            kinds=_strings(entry, "kinds", raw.get("kinds", []), [k.value for k in Kind]),
            districts=_strings(entry, "districts", raw.get("districts", [])),
            sites=_strings(entry, "sites", raw.get("sites", [])),
            site_types=_strings(entry, "site_types", raw.get("site_types", [])),
            min_severity=severity,
        ))
    return RoutingPolicy(tuple(routes), sites or load_sites(data))
