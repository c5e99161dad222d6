"""`kuzet rules activate|history|backtest`: rule versions you can prove.

`activate [FILE]` (default: KUZET_RULES_PATH or the shipped rules) validates the file and
records `RulesActivated` (version, SHA-256 digest, author, source); a second text under an
activated version is refused; `kuzet worker` (so `kuzet up`) records the activation of the
rules it starts with when they are not the active ones (`record_start_activation`: once however
many workers start together; a changed text under an activated version stops the worker).
`history` lists the activations. `backtest --rules CANDIDATE
--from T1 --to T2` replays the archived detections of [T1, T2) through the pure correlator
under the active rules and under CANDIDATE and prints, per kind, the incidents gained, lost
and changed, the median time-to-open change, and example incident ids (never keys: they may
hold plates).
"""

from __future__ import annotations

import getpass
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from kuzet.errors import KuzetError
from kuzet.settings import Settings, load_settings

if TYPE_CHECKING:
    from domain.backtest import Diff
    from domain.rules import RuleSet

__all__ = ["backtest_rules", "record_start_activation", "register"]

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Settings TOML file.")]
rules_app = typer.Typer(help="Rule versions: activate, history, backtest.", no_args_is_help=True)


def _read(path: Path | None, settings: Settings) -> tuple[str, str]:
    from importlib import resources

    path = path or settings.rules_path
    if path is None:
        return resources.files("domain").joinpath("rules.toml").read_text(), "domain/rules.toml"
    try:
        return path.read_text(), str(path)
    except OSError as exc:
        raise KuzetError(f"{path}: {exc.strerror or exc}") from None


def _rules(text: str, source: str) -> RuleSet:
    from domain.errors import InvalidRules
    from domain.rules import load_rules

    try:
        return load_rules(text, source)
    except InvalidRules as exc:
        raise KuzetError(str(exc)) from None


def _activations(app: Any) -> list[Any]:
    from domain.rule_versions import ACTIVATION_TOPIC

    out, start = [], 1
    while True:
        found = app.recorder.select_notifications(start=start, limit=1000,
                                                  topics=[ACTIVATION_TOPIC])
        out += [app.mapper.to_domain_event(n) for n in found]
        if len(found) < 1000:
            return out
        start = found[-1].id + 1


def _author(settings: Settings, by: str | None = None) -> str:
    """--by, else KUZET_RULES_AUTHOR, else the OS user."""
    if by or settings.rules_author:
        return by or settings.rules_author
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        raise KuzetError("no OS user name to record as the rules' author: set "
                         "KUZET_RULES_AUTHOR") from None


def record_start_activation(settings: Settings) -> str | None:
    """Record `RulesActivated` for the rules a worker starts with unless they are the active
    ones already; the activation's id follows from the one before it, so workers starting
    together save it once (the others' saves collide and are taken as done). Returns a line
    saying what was recorded, or None. Raises `InvalidActivation` for a changed text under a
    version already activated."""
    from eventsourcing.persistence import IntegrityError

    from domain.rule_versions import (
        RuleActivation,
        activation_id,
        activation_needed,
        rules_digest,
    )
    from kuzet.wiring import build_incident_app

    text, source = _read(None, settings)
    rules = _rules(text, source)
    digest = rules_digest(text)
    app = build_incident_app(settings, rules)
    try:
        earlier = _activations(app)
        if not activation_needed(rules.version, digest, [(e.version, e.digest) for e in earlier]):
            return None
        ident = activation_id(rules.version, digest, earlier[-1].originator_id if earlier else None)
        try:
            app.save(RuleActivation.activate(version=rules.version, digest=digest,
                                             author=_author(settings), source=source,
                                             at=datetime.now(UTC), ident=ident))
        except IntegrityError:  # another worker starting with the same rules recorded it
            return None
    finally:
        app.close()
    return f"activated rules version {rules.version} (sha256 {digest[:16]}...) from {source}"


@rules_app.command()
def activate(path: Annotated[Path | None, typer.Argument(help="Rules TOML.")] = None,
             by: Annotated[str | None, typer.Option("--by", help="Author.")] = None,
             config: ConfigOpt = None) -> None:
    """Record that a rules file (version, digest) is now the active one."""
    from domain.rule_versions import RuleActivation, check_activation, rules_digest
    from kuzet.wiring import build_incident_app

    settings = load_settings(config)
    text, source = _read(path, settings)
    rules = _rules(text, source)
    digest = rules_digest(text)
    app = build_incident_app(settings)
    try:
        check_activation(rules.version, digest, [(e.version, e.digest) for e in _activations(app)])
        app.save(RuleActivation.activate(version=rules.version, digest=digest,
                                         author=_author(settings, by), source=source,
                                         at=datetime.now(UTC)))
    finally:
        app.close()
    console.print(f"activated rules version {rules.version} (sha256 {digest[:16]}...) from "
                  f"{source}", highlight=False)


@rules_app.command()
def history(config: ConfigOpt = None) -> None:
    """Every activation, oldest first."""
    from kuzet.wiring import build_incident_app

    app = build_incident_app(load_settings(config))
    try:
        for e in _activations(app):
            console.print(f"{e.at.isoformat()}  version {e.version}  sha256 {e.digest[:16]}...  "
                          f"by {e.author}  from {e.source}", highlight=False)
    finally:
        app.close()


def backtest_rules(settings: Settings, active: RuleSet, candidate: RuleSet, start: datetime,
                   end: datetime) -> tuple[Diff, dict[str, float]]:
    """Replay [start, end) of the archive under both rule sets; the diff and the figures."""
    from archive.replay import Replayed
    from domain.backtest import compare, replay
    from eventstore.sealing import Sealer
    from kuzet.commands.archive import archive_parts

    with archive_parts(settings) as (_, keys, store):
        began = time.perf_counter()
        source = Replayed(store, Sealer(keys))
        detections = list(source.between(start, end))
        read_s = time.perf_counter() - began
        before = replay(detections, active)
        after = replay(detections, candidate)
        total_s = time.perf_counter() - began
    return compare(before, after), {"detections": len(detections),
                                    "shredded_skipped": source.shredded,
                                    "read_s": round(read_s, 2), "total_s": round(total_s, 2)}


def _when(text: str, name: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 time with offset", param_hint=name) from None
    if instant.tzinfo is None:
        raise typer.BadParameter("needs a UTC offset", param_hint=name)
    return instant


@rules_app.command()
def backtest(rules: Annotated[Path, typer.Option("--rules", help="Candidate rules TOML.")],
             start: Annotated[str, typer.Option("--from", help="ISO 8601, with offset.")],
             end: Annotated[str, typer.Option("--to", help="ISO 8601, with offset.")],
             as_json: Annotated[bool, typer.Option("--json")] = False,
             config: ConfigOpt = None) -> None:
    """Replay archived detections under the active and the candidate rules; print the diff."""
    settings = load_settings(config)
    active = _rules(*_read(None, settings))
    candidate = _rules(*_read(rules, settings))
    diff, figures = backtest_rules(settings, active, candidate, _when(start, "--from"),
                                   _when(end, "--to"))
    summary = {k: d.summary() for k, d in sorted(diff.kinds.items())}
    if as_json:
        console.print_json(json.dumps({"versions": [active.version, candidate.version],
                                       "figures": figures, "kinds": summary}))
        return
    console.print(f"backtest: {figures['detections']} detections ({figures['shredded_skipped']} "
                  f"shredded, left out) in {figures['total_s']} s; rules version "
                  f"{active.version} (active) vs {candidate.version} (candidate)",
                  highlight=False)
    for kind, s in summary.items():
        delta = s["median_time_to_open_delta_s"]
        console.print(f"  {kind:<18} {s['active']:>5} → {s['candidate']:<5} gained "
                      f"{s['gained']:<4} lost {s['lost']:<4} changed {s['changed']:<4}"
                      + (f" median time-to-open {delta:+.1f} s" if delta is not None else ""),
                      highlight=False)
        for what, ids in s["examples"].items():  # type: ignore[attr-defined]
            if ids:
                console.print(f"      {what}: {', '.join(ids)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")


def run_shadow(config: Path | None, candidate: Path) -> None:
    """`kuzet worker --shadow CANDIDATE.toml` (see `archive.shadow`)."""
    import asyncio
    import signal

    from archive.shadow import ShadowWorker
    from archive.store import open_archive
    from domain.topics import DETECTIONS
    from kuzet.health import serve_health
    from kuzet.kafka import client_options, ensure_topics

    settings = load_settings(config)
    rules = _rules(*_read(candidate, settings))
    store = open_archive(settings.archive_location)
    shadow = ShadowWorker(settings.bootstrap_servers, store, rules, lambda: datetime.now(UTC),
                          group_id=f"{settings.consumer_group}.shadow",
                          client_options=client_options(settings))

    async def main() -> None:
        await ensure_topics(settings.bootstrap_servers, [DETECTIONS], settings.kafka_partitions,
                            options=client_options(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(f"shadow worker: rules version {rules.version} from {candidate}; "
                      "incidents go to the shadow store only", highlight=False)
        await shadow.run(stop)

    health = serve_health("shadow worker", settings.health_port,
                          lambda: (shadow.connected, {"records": shadow.records,
                                                      "opened": shadow.opened}))
    try:
        asyncio.run(main())
    finally:
        store.close()
        if health is not None:
            health.stop()
    console.print(f"stopped: {shadow.records} records, {shadow.opened} shadow incidents",
                  highlight=False)


def live_opened(settings: Settings, start: datetime, end: datetime) -> list[Any]:
    """The live incidents opened in [start, end), as `domain.backtest.Opened` (no keys)."""
    from domain.backtest import Opened
    from kuzet.wiring import build_incident_app

    app = build_incident_app(settings)
    try:
        return [Opened("", i.kind.value if hasattr(i.kind, "value") else str(i.kind), 0, i.id,
                       i.opened_at, tuple(i.opening_detection_ids),
                       i.opened_at - i.first_seen_at)
                for i in app.incidents() if start <= i.opened_at < end]
    finally:
        app.close()


@rules_app.command("diff-shadow")
def diff_shadow(start: Annotated[str, typer.Option("--from", help="ISO 8601, with offset.")],
                end: Annotated[str, typer.Option("--to", help="ISO 8601, with offset.")],
                as_json: Annotated[bool, typer.Option("--json")] = False,
                config: ConfigOpt = None) -> None:
    """Compare the shadow worker's incidents with the live ones opened in [from, to)."""
    from archive.store import open_archive
    from domain.backtest import compare_by_evidence

    settings = load_settings(config)
    t1, t2 = _when(start, "--from"), _when(end, "--to")
    store = open_archive(settings.archive_location)
    try:
        shadow = store.shadow_between(t1, t2)
    finally:
        store.close()
    diff = compare_by_evidence(live_opened(settings, t1, t2), shadow)
    summary = {k: d.summary() for k, d in sorted(diff.kinds.items())}
    if as_json:
        console.print_json(json.dumps({"kinds": summary}))
        return
    for kind, s in summary.items():
        console.print(f"  {kind:<18} live {s['active']:>5}  shadow {s['candidate']:<5} gained "
                      f"{s['gained']:<4} lost {s['lost']:<4} changed {s['changed']}",
                      highlight=False)
