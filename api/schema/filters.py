"""Query arguments shared by `incidents` and the agency views: the incident filter, status
names and the page-size limit, each refused with an `InvalidFilter` that names the value."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from api.auth import Principal
from api.errors import InvalidFilter
from api.reader import IncidentFilterSpec
from api.schema.context import Context
from api.views import instant
from domain.kinds import Status

__all__ = ["IncidentFilter", "check_first", "filter_spec", "statuses"]


@strawberry.input
class IncidentFilter:
    status: list[str] | None = None
    kinds: list[str] | None = None
    agency: str | None = None
    site: str | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None


def check_first(info: Info[Context, None], first: int) -> None:
    limit = info.context.services.config.max_page_size
    if not 1 <= first <= limit:
        raise InvalidFilter(f"first={first}: must be between 1 and the maximum page size {limit}")


def statuses(values: list[str] | None) -> frozenset[str] | None:
    """The requested statuses, checked against the lifecycle's."""
    bad = [s for s in values or () if s not in Status.__members__]
    if bad:
        raise InvalidFilter(f"unknown status {bad[0]!r}; one of {', '.join(Status.__members__)}")
    return frozenset(values) if values else None


def filter_spec(f: IncidentFilter | None, who: Principal) -> IncidentFilterSpec:
    f = f or IncidentFilter()
    return IncidentFilterSpec(
        statuses=statuses(f.status), kinds=frozenset(f.kinds) if f.kinds else None,
        agency=f.agency, site=f.site,
        opened_after=instant(f.opened_after) if f.opened_after else None,
        opened_before=instant(f.opened_before) if f.opened_before else None, scope=who.scope)
