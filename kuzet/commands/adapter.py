"""`kuzet adapter ...`: webhook delivery to agencies, its parked queue, receipts, regeneration,
signing keys, and the inbound endpoint where agencies report back.

Builds the `adapters` pieces from `Settings` (the signing key, the state store, the retry
policy, agencies' public keys) and turns adapter errors into the CLI's one-line `KuzetError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kuzet.errors import KuzetError
from kuzet.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from adapters.delivery import Sender
    from adapters.envelope import Body, Unseal
    from adapters.signing import Signer
    from adapters.state import AdapterState
    from adapters.webhook import Reveal

__all__ = ["MAX_TIME", "MIN_TIME", "agency_keys", "keeps_personal_fields", "open_state",
           "register", "signer_from", "unsealing"]

console = Console()
adapter_app = typer.Typer(help="Deliver agency feeds to agencies' systems and take reports "
                               "back.", no_args_is_help=True)
parked_app = typer.Typer(help="Events the webhook adapter parked (refused or undeliverable).",
                         no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings TOML file.")]
AgencyOpt = Annotated[str, typer.Option(help="Agency: police, emergency, zhkkh, education, "
                                             "situation_centre.")]
NameOpt = Annotated[str | None, typer.Option(help="Adapter name (default: the agency); one per "
                                                  "endpoint.")]
TopicOpt = Annotated[str | None, typer.Option(help="Topic (default: kuzet.agency.<agency>.v1).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")]
MIN_TIME = "0001-01-01T00:00:00.000000+00:00"
MAX_TIME = "9999-12-31T23:59:59.999999+00:00"


# --- building the pieces from settings ------------------------------------------------------

def signer_from(settings: Settings) -> Signer:
    """The delivery signer; a missing or bad key names its setting, never its value."""
    from adapters.errors import SigningKeyError
    from adapters.signing import Signer, load_private_key

    material: str | bytes
    if settings.adapter_signing_key:
        name, material = "KUZET_ADAPTER_SIGNING_KEY=***", settings.adapter_signing_key
    elif settings.adapter_signing_key_path is not None:
        path = settings.adapter_signing_key_path
        name = f"KUZET_ADAPTER_SIGNING_KEY_PATH={str(path)!r}"
        try:
            material = path.read_bytes()
        except OSError as exc:
            raise SettingsError(f"{name}: {exc.strerror}") from None
    else:
        raise SettingsError("KUZET_ADAPTER_SIGNING_KEY or KUZET_ADAPTER_SIGNING_KEY_PATH is "
                            "required to sign deliveries (`kuzet adapter keygen` makes a key)")
    try:
        return Signer(load_private_key(material))
    except SigningKeyError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def agency_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """`police:BASE64,zhkkh:BASE64` → agency → public key; every problem names the entry."""
    from adapters.errors import SigningKeyError
    from adapters.signing import load_public_key
    from domain.kinds import Agency

    keys = {}
    for entry in filter(None, (e.strip() for e in settings.adapter_agency_keys.split(","))):
        agency, _, encoded = entry.partition(":")
        try:
            keys[Agency(agency.strip()).value] = load_public_key(encoded)
        except (ValueError, SigningKeyError) as exc:
            raise SettingsError(f"KUZET_ADAPTER_AGENCY_KEYS entry {agency.strip()!r}: expected "
                                f"<agency>:<base64 public key> ({exc})") from None
    return keys


async def open_state(settings: Settings) -> AdapterState:
    """The adapter store: its own URL, else the PostgreSQL event store, else a SQLite file."""
    from adapters.errors import StateStoreError
    from adapters.state_postgres import PostgresState
    from adapters.state_sqlite import SqliteState
    from kuzet.settings import postgres_env

    url = settings.adapter_state_url or settings.event_store_url
    state: AdapterState
    try:
        if url:
            postgres_env(url)  # the same URL check (and message) as the event store's
            state = await PostgresState.connect(url, timeout_s=settings.connect_timeout_s)
        else:
            state = SqliteState(settings.data_dir / "adapters.sqlite")
        await state.setup()
    except StateStoreError as exc:
        raise KuzetError(str(exc)) from None
    return state


def keeps_personal_fields(agency: str) -> bool:
    """Whether the agency's policy keeps a field that is stored sealed (face, plate, snapshot:
    the police): only then can its topic carry sealed values and its adapter need the keys."""
    from domain.privacy import DEFAULT_POLICIES, Action, Tag

    policy = DEFAULT_POLICIES.get(agency, {})
    return any(policy.get(t) is Action.KEEP for t in (Tag.FACE, Tag.PLATE, Tag.SNAPSHOT))


@contextlib.contextmanager
def unsealing(settings: Settings, agency: str) -> Iterator[Unseal | None]:
    """Opens sealed personal values (`eventstore.sealing`) for an agency entitled to them.

    The subject keys live in the event store's database, so the adapter of such an agency
    opens the event store (nothing else reads it); other agencies' topics hold no sealed value
    and get None. A tampered or malformed marker becomes `UnsealError` (the event is parked).
    `webhook`, `parked retry` and `regenerate` all open values through this one place.
    """
    if not keeps_personal_fields(agency):
        yield None
        return
    from kuzet.wiring import build_incident_app

    app = build_incident_app(settings)
    try:
        keystore = getattr(app.factory, "keystore", None)  # None: a store without sealing
        yield None if keystore is None else _opener(keystore)
    finally:
        app.close()


@contextlib.contextmanager
def access_logging(settings: Settings, agency: str) -> Iterator[Reveal | None]:
    """Records each delivery that revealed personal fields in the personal-data access log
    (`domain.access`, hash-chained in the event store), so "who received whom" covers the
    agencies' feeds as it covers the API. None for agencies whose topic holds no such value."""
    if not keeps_personal_fields(agency):
        yield None
        return
    from datetime import UTC, datetime

    from domain.access import PersonalDataAccessBatch, access_entry
    from kuzet.wiring import build_incident_app

    app = build_incident_app(settings)

    async def reveal(name: str, url: str, body: Body) -> None:
        entry = access_entry(at=datetime.now(UTC), principal=f"adapter:{name}", role="agency",
                             agency=agency, token="", incident=body.incident,
                             fields=body.revealed, subjects=body.subjects,
                             via=f"webhook {url}")
        await asyncio.to_thread(app.save, PersonalDataAccessBatch.record([entry],
                                                                         datetime.now(UTC)))
    try:
        yield reveal
    finally:
        app.close()


def _opener(keystore: Any) -> Unseal:
    from adapters.errors import UnsealError
    from eventstore.sealing import SealedValueError, Sealer

    sealer = Sealer(keystore)

    def open_value(marker: Mapping[str, Any]) -> Any:
        try:
            return sealer.open(marker)
        except SealedValueError as exc:
            raise UnsealError(str(exc)) from None
    return open_value


def _agency(value: str) -> str:
    from domain.kinds import Agency

    try:
        return Agency(value).value
    except ValueError:
        raise KuzetError(f"--agency {value!r}: one of {', '.join(a.value for a in Agency)}"
                         ) from None


def _topic(agency: str, topic: str | None) -> str:
    from domain.kinds import Agency
    from domain.topics import agency_topic

    return topic or agency_topic(Agency(agency))


def _url(value: str) -> str:
    import httpx

    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise KuzetError(f"--url {value!r}: {exc}") from None
    if url.scheme not in {"http", "https"} or not url.host:
        raise KuzetError(f"--url {value!r}: expected http(s)://host/path")
    if url.userinfo:  # it would be printed and stored in every receipt; we sign instead
        raise KuzetError("--url: credentials in the URL are refused (deliveries are signed)")
    return value


def _time(value: str | None, default: str, hint: str) -> str:
    from adapters.envelope import normalise_time

    if value is None:
        return default
    try:
        return normalise_time(value)
    except ValueError:
        raise KuzetError(f"{hint} {value!r}: expected RFC 3339 with a UTC offset, e.g. "
                         "2026-11-26T00:00:00+05:00") from None


def _sender(settings: Settings, url: str) -> Sender:
    """Checked before anything connects: a bad key or policy fails fast, naming the setting."""
    from adapters.delivery import Sender
    from adapters.retry import RetryPolicy

    try:
        policy = RetryPolicy(settings.adapter_max_attempts, settings.adapter_backoff_base_s,
                             settings.adapter_backoff_cap_s)
    except ValueError as exc:
        raise SettingsError(f"KUZET_ADAPTER_MAX_ATTEMPTS / _BACKOFF_*: {exc}") from None
    return Sender(url, signer_from(settings), policy, settings.adapter_timeout_s)


def _run(coro: Any) -> Any:
    """Run `coro`, turning adapter errors into the CLI's one-line `KuzetError`."""
    from adapters.errors import AdapterError

    try:
        return asyncio.run(coro)
    except AdapterError as exc:
        raise KuzetError(str(exc)) from None


# --- commands ---------------------------------------------------------------------------------

def webhook(agency: AgencyOpt, url: Annotated[str, typer.Option(help="The agency's endpoint.")],
            name: NameOpt = None, topic: TopicOpt = None, config: ConfigOpt = None) -> None:
    """Deliver the agency's topic to URL until stopped (SIGINT/SIGTERM): signed, receipted."""
    from adapters.feed import Feed
    from adapters.webhook import WebhookAdapter
    from kuzet.kafka import ensure_topics

    settings, agency = load_settings(config), _agency(agency)
    url, feed_topic = _url(url), _topic(agency, topic)
    signer_from(settings)  # fail fast on the key, before connecting to anything

    from kuzet.kafka import client_options

    async def main() -> None:
        await ensure_topics(settings.bootstrap_servers, [feed_topic], settings.kafka_partitions,
                            options=client_options(settings))
        state, sender = await open_state(settings), _sender(settings, url)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        console.print(f"adapter {name or agency}: {feed_topic} → {url} "
                      f"(key {sender.signer.key_id})", highlight=False)
        from kuzet.health import serve_health

        health = serve_health(f"adapter {name or agency}", settings.health_port)
        try:
            with unsealing(settings, agency) as unseal, \
                    access_logging(settings, agency) as on_reveal:
                adapter = WebhookAdapter(name or agency, state, sender, unseal=unseal,
                                         on_reveal=on_reveal)
                await adapter.run(Feed(settings.bootstrap_servers, feed_topic,
                                       client_options(settings)), stop)
        finally:
            await sender.close()
            await state.close()
            if health is not None:
                health.stop()
    _run(main())


def receipts(agency: AgencyOpt, since: Annotated[str | None, typer.Option(
                 "--from", help="Event time from (inclusive), RFC 3339.")] = None,
             until: Annotated[str | None, typer.Option(
                 "--to", help="Event time to (exclusive), RFC 3339.")] = None,
             name: NameOpt = None, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """What the agency received: event id, payload sha256, time, HTTP status, attempts."""
    settings, agency = load_settings(config), _agency(agency)
    start, end = _time(since, MIN_TIME, "--from"), _time(until, MAX_TIME, "--to")

    async def main() -> list[Any]:
        state = await open_state(settings)
        try:
            return await state.receipts(name or agency, start, end)
        finally:
            await state.close()
    found = _run(main())
    if as_json:
        for r in found:
            typer.echo(json.dumps(asdict(r), sort_keys=True))
        return
    table = Table(title=f"{len(found)} receipts of {name or agency}")
    for col in ("event time", "event id", "type", "sha256", "status", "attempts", "delivered"):
        table.add_column(col)
    for r in found:
        table.add_row(r.event_time, r.event_id, r.event_type.removeprefix("kuzet.incident."),
                      r.sha256[:16], str(r.http_status), str(r.attempts), r.delivered_at)
    console.print(table)


def regenerate(agency: AgencyOpt,
               since: Annotated[str, typer.Option("--from", help="Event time from (inclusive).")],
               until: Annotated[str, typer.Option("--to", help="Event time to (exclusive).")],
               out: Annotated[Path, typer.Option(help="File to write (one payload a line).")],
               name: NameOpt = None, topic: TopicOpt = None, config: ConfigOpt = None) -> None:
    """Reproduce the payloads of a period from the topic and compare them with the receipts."""
    from adapters.feed import read_all
    from adapters.regenerate import regenerate as reproduce

    settings, agency = load_settings(config), _agency(agency)
    start, end = _time(since, MIN_TIME, "--from"), _time(until, MAX_TIME, "--to")

    async def main() -> Any:
        records = await read_all(settings.bootstrap_servers, _topic(agency, topic))
        state = await open_state(settings)
        try:
            found = await state.receipts(name or agency, start, end)
        finally:
            await state.close()
        with unsealing(settings, agency) as unseal:
            return reproduce(records, found, start, end, unseal)
    result = _run(main())
    out.write_bytes(result.jsonl())
    counts = {s: result.count(s) for s in ("match", "differs", "shredded", "not delivered",
                                           "unreadable")}
    console.print(f"wrote {len(result.items)} payloads to {out}: "
                  + ", ".join(f"{n} {s}" for s, n in counts.items())
                  + f", {len(result.missing)} receipts no longer on the topic", highlight=False)
    for item in result.items:
        if item.status in {"differs", "shredded", "unreadable"}:
            console.print(f"  {item.event_id}: {item.status} {item.problem or ''}",
                          highlight=False)
    if not result.consistent:
        raise typer.Exit(1)


def _parked_target(event_id: str | None, every: bool) -> str | None:
    if (event_id is None) == (not every):
        raise KuzetError("give exactly one of --id or --all")
    return event_id


IdOpt = Annotated[str | None, typer.Option("--id", help="The parked event's id.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every parked event of the adapter.")]


@parked_app.command("list")
def parked_list(agency: AgencyOpt, name: NameOpt = None, as_json: JsonOpt = False,
                dropped: Annotated[bool, typer.Option(help="Include dropped ones.")] = False,
                config: ConfigOpt = None) -> None:
    """Parked events, oldest first, with why they were parked."""
    settings, agency = load_settings(config), _agency(agency)

    async def main() -> list[Any]:
        state = await open_state(settings)
        try:
            return await state.parked(name or agency, dropped=dropped)
        finally:
            await state.close()
    found = _run(main())
    for p in found:
        row = {k: v for k, v in asdict(p).items() if k != "value"}
        typer.echo(json.dumps(row, sort_keys=True) if as_json else
                   f"{p.parked_at}  {p.event_id}  attempts={p.attempts}  "
                   f"{'dropped ' if p.dropped_at else ''}{p.reason}")
    if not as_json:
        typer.echo(f"{len(found)} parked")


@parked_app.command("retry")
def parked_retry(agency: AgencyOpt,
                 url: Annotated[str, typer.Option(help="The agency's endpoint.")],
                 event_id: IdOpt = None, every: AllOpt = False, name: NameOpt = None,
                 config: ConfigOpt = None) -> None:
    """Deliver parked events again now: each is receipted, or stays parked with the new reason."""
    from adapters.webhook import WebhookAdapter

    settings, agency = load_settings(config), _agency(agency)
    target, url = _parked_target(event_id, every), _url(url)
    signer_from(settings)

    async def main() -> dict[str, Any]:
        state, sender = await open_state(settings), _sender(settings, url)
        try:
            with unsealing(settings, agency) as unseal, \
                    access_logging(settings, agency) as on_reveal:
                adapter = WebhookAdapter(name or agency, state, sender, unseal=unseal,
                                         on_reveal=on_reveal)
                return await adapter.retry_parked(target)
        finally:
            await sender.close()
            await state.close()
    results = _run(main())
    for event, verdict in results.items():
        typer.echo(f"{event}: {verdict.value}")
    if any(v.value != "delivered" for v in results.values()):
        raise typer.Exit(1)


@parked_app.command("drop")
def parked_drop(agency: AgencyOpt, event_id: IdOpt = None, every: AllOpt = False,
                name: NameOpt = None, config: ConfigOpt = None) -> None:
    """Give up on parked events (they stay listed with --dropped, for the record)."""
    from adapters.webhook import drop_parked

    settings, agency = load_settings(config), _agency(agency)
    target = _parked_target(event_id, every)

    async def main() -> list[str]:
        state = await open_state(settings)
        try:
            return await drop_parked(state, name or agency, target)
        finally:
            await state.close()
    dropped = _run(main())
    typer.echo(f"dropped {len(dropped)}: {' '.join(dropped)}".rstrip(": "))


def keygen(out: Annotated[Path | None, typer.Option(
        help="Write the private key here (mode 0600) instead of printing it.")] = None) -> None:
    """Make an Ed25519 key pair for signing deliveries; give the agency the public key."""
    from adapters.signing import generate

    pair = generate()
    if out is not None:
        out.touch(mode=0o600, exist_ok=False)
        out.write_text(pair.private_b64 + "\n")
        typer.echo(f"private key written to {out} (KUZET_ADAPTER_SIGNING_KEY_PATH={out})")
    else:
        typer.echo(f"KUZET_ADAPTER_SIGNING_KEY={pair.private_b64}")
    typer.echo(f"public key (for the agency): {pair.public_b64}")
    typer.echo(f"key id: {pair.key_id}")


def public_key(config: ConfigOpt = None) -> None:
    """Print the public key (and key id) of the configured signing key."""
    from adapters.signing import public_b64

    signer = signer_from(load_settings(config))
    typer.echo(f"public key: {public_b64(signer.public_key)}\nkey id: {signer.key_id}")


def inbound(host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
            port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
            config: ConfigOpt = None) -> None:
    """Serve POST /agencies/{agency}/reports: signed report-backs become incident events."""
    import uvicorn

    from adapters.inbound import InboundConfig, create_inbound_app
    from kuzet.wiring import build_incident_app

    settings = load_settings(config, adapter_inbound_host=host, adapter_inbound_port=port)
    keys = agency_keys(settings)
    if not keys:
        raise SettingsError("KUZET_ADAPTER_AGENCY_KEYS is empty: no agency could report back")
    app = create_inbound_app(InboundConfig(keys, max_skew_s=settings.adapter_max_skew_s),
                             build_incident_app(settings))
    console.print(f"agency reports on http://{settings.adapter_inbound_host}:"
                  f"{settings.adapter_inbound_port}/agencies/<agency>/reports "
                  f"({', '.join(sorted(keys))})", highlight=False)
    from kuzet.health import port_answers, serve_health

    serve_health("adapter inbound", settings.health_port, lambda: port_answers(
        settings.adapter_inbound_host, settings.adapter_inbound_port))
    from kuzet.logs import uvicorn_log_config

    level = settings.log_level
    uvicorn.run(app, host=settings.adapter_inbound_host, port=settings.adapter_inbound_port,
                log_level="warning" if level == "warn" else level,
                log_config=uvicorn_log_config())


def register(app: typer.Typer) -> None:
    adapter_app.command()(webhook)
    adapter_app.command()(receipts)
    adapter_app.command()(regenerate)
    adapter_app.command()(keygen)
    adapter_app.command("public-key")(public_key)
    adapter_app.command()(inbound)
    adapter_app.add_typer(parked_app, name="parked")
    app.add_typer(adapter_app, name="adapter")

