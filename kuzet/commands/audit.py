"""`kuzet audit verify|anchor|export|replay|board`: the tamper-evident store, for auditors.

`verify` and `replay` exit 1 when what they check is broken or differs, 0 when it holds; bad
input (a malformed anchor file, a time without a UTC offset, an unchained store) exits 2.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from kuzet.errors import KuzetError
from kuzet.settings import load_settings

if TYPE_CHECKING:
    from audit.replay import Replayed
    from domain.application import IncidentApp
    from projections.views import View

__all__ = ["register"]

console = Console()
_T = TypeVar("_T")
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Settings TOML file.")]
audit_app = typer.Typer(help="Tamper-evident event store: verify, anchor, export, replay, "
                             "time travel.", no_args_is_help=True)


@contextmanager
def _incident_app(config: Path | None) -> Iterator[IncidentApp]:
    from kuzet.wiring import build_incident_app

    app = build_incident_app(load_settings(config))
    try:
        yield app
    finally:
        app.close()


def _checked(call: Callable[[], _T]) -> _T:
    """Run `call`, turning the audit package's errors into the CLI's one-line `KuzetError`.

    An `ExportError` passes through: for `replay` a broken export is a finding (exit 1).
    """
    from audit.chain import ChainError
    from audit.export import ExportError
    from projections.errors import ProjectionError

    try:
        return call()
    except ExportError:
        raise
    except (ChainError, ProjectionError) as exc:
        raise KuzetError(str(exc)) from None


def _replay(lines: Iterable[str], app: IncidentApp, views: list[View]) -> Replayed:
    from audit.replay import replay_export

    return asyncio.run(replay_export(lines, app, views))


def _instant(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise KuzetError(f"{option} {text!r}: expected RFC 3339 with a UTC offset, "
                         "e.g. 2026-11-26T10:00:00+00:00")
    return value


@audit_app.command("verify")
def verify(config: ConfigOpt = None,
           anchors: Annotated[Path | None, typer.Option(
               help="Anchor file (JSON lines from `kuzet audit anchor`) to prove history "
                    "against.")] = None) -> None:
    """Walk the log with its hash chain; report the first break (exit 1) or prove it intact."""
    from audit.chain import parse_anchors, verify_chain
    from eventstore.log import chain_of

    known = _checked(lambda: parse_anchors(anchors.read_text().splitlines(), str(anchors))
                     ) if anchors else []
    with _incident_app(config) as app:
        result = _checked(lambda: verify_chain(chain_of(app), known))
    console.print(f"checked {result.checked:,} events in {result.seconds:.2f}s "
                  f"({result.rate:,.0f} events/s); anchors proven: {result.anchors}")
    if result.broken is not None:
        console.print(f"[red]BROKEN[/red]: {result.broken}", highlight=False)
        raise typer.Exit(1)
    head = result.last.position if result.last else 0
    console.print(f"[green]intact[/green] up to position {head}", highlight=False)


@audit_app.command("anchor")
def anchor(config: ConfigOpt = None,
           file: Annotated[Path | None, typer.Option(
               "--file", help="Append the anchor to this file (else print it).")] = None
           ) -> None:
    """Write down the chain head {position, hash, recorded_at, anchored_at} outside the store."""
    from audit.chain import Anchor
    from eventstore.log import chain_of

    with _incident_app(config) as app:
        head = _checked(lambda: chain_of(app).chain_head())
    if head is None:
        raise KuzetError("the event store is empty: nothing to anchor")
    line = Anchor.of(head, datetime.now(UTC)).to_json()
    if file is not None:
        with file.open("a") as out:
            out.write(line + "\n")
    console.print(line, highlight=False, markup=False)


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="The JSON-lines file to write.")],
    since: Annotated[str | None, typer.Option("--from", help="Recorded at or after (RFC 3339)."
                                              )] = None,
    until: Annotated[str | None, typer.Option("--to", help="Recorded at or before (RFC 3339)."
                                              )] = None,
    incident: Annotated[str | None, typer.Option(help="Only this incident's events.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Export events in log order, in stored form (nothing decrypted), with their hashes."""
    from audit.export import ExportError, Selection
    from audit.export import export as write_export
    from eventstore.log import chain_of

    try:
        wanted = UUID(incident) if incident else None
    except ValueError:
        raise KuzetError(f"--incident {incident!r}: not an incident id (UUID)") from None
    sel = Selection(_instant(since, "--from"), _instant(until, "--to"), wanted)
    try:
        with _incident_app(config) as app, out.open("w") as sink:
            events, links = _checked(lambda: write_export(chain_of(app), sink, sel,
                                                          datetime.now(UTC)))
    except ExportError as exc:
        out.unlink(missing_ok=True)  # no half-written export left to mislead anyone
        raise KuzetError(str(exc)) from None
    console.print(f"exported {events} events ({links} links of other events) to {out}")


@audit_app.command("replay")
def replay(file: Path, config: ConfigOpt = None) -> None:
    """Check an export's chain, rebuild every view from it, compare digests with the live store."""
    from audit.export import ExportError
    from projections import all_views

    settings = load_settings(config)
    with _incident_app(config) as app, file.open() as lines:
        views = all_views(app.routing.sites, settings.canteen_min_k)
        try:
            result = _checked(lambda: _replay(lines, app, views))
        except ExportError as exc:
            console.print(f"[red]export BROKEN[/red]: {exc}", highlight=False)
            raise typer.Exit(1) from None
    h = result.header
    table = Table(title=f"{file}: {result.events} events, positions {h.first_position}.."
                        f"{h.last_position}" + (f", incident {h.incident}" if h.incident else ""))
    for col in ("view", "rows", "replayed", "live", ""):
        table.add_column(col)
    for v in result.views:
        table.add_row(v.view, str(v.rows), v.replayed[:16], v.live[:16],
                      "equal" if v.equal else "DIFFERENT")
    console.print(table)
    if not result.equal:
        raise typer.Exit(1)


@audit_app.command("board")
def board(
    at: Annotated[str, typer.Option(help="The instant (RFC 3339 with offset).")],
    view: Annotated[str, typer.Option(help="Which view (board, police, zhkkh, education).")
                    ] = "board",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """A view's rows as the system knew them at instant --at (time travel)."""
    from eventstore.log import ChainedLog
    from projections import UnknownViewError, all_views
    from projections.asof import view_as_of

    instant = _instant(at, "--at")
    assert instant is not None  # a required option
    settings = load_settings(config)
    with _incident_app(config) as app:
        views = {v.name: v for v in all_views(app.routing.sites, settings.canteen_min_k)}
        if view not in views:
            raise KuzetError(str(UnknownViewError(view, list(views))))
        result = _checked(lambda: view_as_of(ChainedLog(app), views[view], instant))
    rows = [result.rows[k] for k in sorted(result.rows)]
    if as_json:
        typer.echo(json.dumps({"view": view, "at": instant.isoformat(),
                               "position": result.position, "rows": rows}, sort_keys=True))
        return
    _print_rows(view, result.position, instant, rows)


def _print_rows(view: str, position: int, at: datetime, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{view} at {at.isoformat()} (log position {position}, {len(rows)} rows)")
    for col in ("id", "kind", "status", "site", "opened_at"):
        table.add_column(col)
    for row in rows:
        table.add_row(str(row.get("id", ""))[:8], str(row.get("kind") or row.get("meal", "")),
                      str(row.get("status", "")), str(row.get("site_id", "")),
                      str(row.get("opened_at", "")))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
