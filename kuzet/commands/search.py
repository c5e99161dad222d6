"""`kuzet search`: the detection archive by description, plate, place and time.

Same filter as GraphQL `searchDetections`; every search is recorded (`DetectionSearch.Recorded`:
who, when, the criteria, the hits) and each hit that shows a plate, subject id or snapshot in
the clear is entered in the personal-data access log, as the operator `--by` (default: the OS
user) with role `cli`. Bad filters exit 2 with one line.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from kuzet.errors import KuzetError
from kuzet.settings import Settings, load_settings

__all__ = ["district_sites", "graphql_port", "register", "run_search"]

console = Console()
Many = Annotated[list[str] | None, typer.Option()]


def district_sites(settings: Settings, district: str | None) -> tuple[str, ...] | None:
    """The sites of `district` (KUZET_SITES_PATH), or None for no district filter."""
    if district is None:
        return None
    from kuzet.wiring import load_routing_policy

    sites = load_routing_policy(settings).sites.sites
    return tuple(sorted(k for k, s in sites.items() if s.district == district))


def _time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 time with offset", param_hint=name) from None


def run_search(settings: Settings, f: Any, *, who: Any, first: int, after: str | None,
               via: str) -> Any:
    """One audited search (the page answered)."""
    from archive.audited import AuditedSearch
    from archive.errors import InvalidSearch
    from kuzet.commands.archive import searcher

    with searcher(settings) as (found, app):
        try:
            return AuditedSearch(found, app).search(who, f, first=first, after=after, via=via)
        except InvalidSearch as exc:
            raise KuzetError(str(exc)) from None


def search(kind: Annotated[list[str] | None, typer.Option("--kind")] = None,
           vehicle_type: Annotated[str | None, typer.Option("--vehicle-type")] = None,
           colour: Annotated[list[str] | None, typer.Option("--colour")] = None,
           upper: Annotated[str | None, typer.Option("--upper-colour")] = None,
           lower: Annotated[str | None, typer.Option("--lower-colour")] = None,
           plate: Annotated[str | None, typer.Option("--plate")] = None,
           fuzzy: Annotated[bool, typer.Option("--fuzzy", help="One edit away, look-alikes "
                                               "folded.")] = False,
           camera: Annotated[list[str] | None, typer.Option("--camera")] = None,
           district: Annotated[str | None, typer.Option("--district")] = None,
           start: Annotated[str | None, typer.Option("--from")] = None,
           end: Annotated[str | None, typer.Option("--to")] = None,
           first: Annotated[int, typer.Option("--first")] = 20,
           after: Annotated[str | None, typer.Option("--after")] = None,
           by: Annotated[str | None, typer.Option("--by", help="Operator id.")] = None,
           as_json: Annotated[bool, typer.Option("--json")] = False,
           config: Annotated[Path | None, typer.Option("--config", "-c")] = None) -> None:
    """Search archived detections (newest first); prints a cursor for the next page."""
    from archive.audited import Who
    from archive.search import SearchFilter

    settings = load_settings(config)
    f = SearchFilter(kinds=tuple(kind or ()), vehicle_type=vehicle_type,
                     colours=tuple(colour or ()), upper_colour=upper, lower_colour=lower,
                     plate=plate, fuzzy=fuzzy, cameras=tuple(camera or ()),
                     sites=district_sites(settings, district), start=_time(start, "--from"),
                     end=_time(end, "--to"))
    page = run_search(settings, f, who=Who(by or getpass.getuser(), "cli", "cli"),
                      first=first, after=after, via="cli")
    if as_json:
        console.print_json(json.dumps({"hits": [_jsonable(h) for h in page.hits],
                                       "endCursor": page.end_cursor,
                                       "hasNext": page.has_next}))
        return
    for h in page.hits:
        console.print(f"{h.observed_at.isoformat()}  {h.source_id:<14} {h.kind:<8} "
                      f"{h.vehicle_type or '-':<10} {h.colour or h.upper_colour or '-':<7} "
                      f"{h.plate or '-':<10} {h.incident_id or '-'}", highlight=False)
    console.print(f"{len(page.hits)} hit(s)" + (f"; next page: --after {page.end_cursor}"
                                                 if page.has_next else ""), highlight=False)


def _jsonable(hit: Any) -> dict[str, Any]:
    from dataclasses import asdict

    out = asdict(hit)
    out["observed_at"] = hit.observed_at.isoformat()
    return out


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def graphql_port(settings: Settings, incidents: Any) -> Any:
    """`api.schema.search.DetectionSearchPort` over the archive, for `kuzet api`: one archive
    connection for the process (calls serialised), the incident application's key store, and
    the search recorded as the caller."""
    import threading

    from api.schema.search import SearchRefused
    from archive.audited import AuditedSearch, Who
    from archive.errors import InvalidSearch
    from archive.reader import Searcher
    from archive.search import SearchFilter
    from archive.store import open_archive
    from eventstore.sealing import Sealer
    from kuzet.commands.archive import pepper_of

    keys = getattr(incidents.factory, "keystore", None)
    if keys is None:
        return None
    audited = AuditedSearch(Searcher(open_archive(settings.archive_location), Sealer(keys),
                                     pepper_of(settings)), incidents)
    lock = threading.Lock()

    def port(who: Any, r: Any) -> dict[str, Any]:
        f = SearchFilter(kinds=r.kinds, vehicle_type=r.vehicle_type, colours=r.colours,
                         upper_colour=r.upper_colour, lower_colour=r.lower_colour,
                         plate=r.plate, fuzzy=r.plate_fuzzy, cameras=r.cameras,
                         sites=district_sites(settings, r.district), polygon=r.polygon,
                         start=r.start, end=r.end)
        try:
            with lock:
                page = audited.search(Who(who.subject, who.role.value, who.agency,
                                          who.token_id), f, first=r.first, after=r.after,
                                      via="graphql")
        except InvalidSearch as exc:
            raise SearchRefused(str(exc)) from None
        return {"hits": [_asdict(h) for h in page.hits],
                "end_cursor": page.end_cursor, "has_next": page.has_next}

    return port


def _asdict(hit: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(hit)
