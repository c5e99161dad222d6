"""Builds the pieces from `Settings`: rules, the incident application, the engine, the worker."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

from domain.application import IncidentApp
from domain.procedures import ProcedureSet, load_procedures
from domain.routing import RoutingPolicy, load_routing, load_sites
from domain.rules import RuleSet, load_rules
from kuzet.settings import Settings

if TYPE_CHECKING:
    import mode

    from eventstore.fastlog import FastLogReader
    from eventstore.lease import FileLease, PostgresLease
    from eventstore.positions import PositionStore
    from projections.asof import RecordedLog

__all__ = ["build_incident_app", "build_log_reader", "build_recorded_log", "build_worker_app",
           "load_procedure_set", "load_rule_set", "open_incident_app", "stream_config"]


def load_rule_set(settings: Settings) -> RuleSet:
    """The deployment's rules file, or the default set shipped in `domain/rules.toml`."""
    if settings.rules_path is not None:
        try:
            text = settings.rules_path.read_text()
        except OSError as exc:
            from kuzet.settings import SettingsError

            raise SettingsError(f"KUZET_RULES_PATH={str(settings.rules_path)!r}: {exc}") from None
        return load_rules(text, str(settings.rules_path))
    text = resources.files("domain").joinpath("rules.toml").read_text()
    return load_rules(text, "domain/rules.toml")


def load_procedure_set(settings: Settings) -> ProcedureSet:
    """The deployment's procedures file, or the set shipped in `domain/procedures.toml`."""
    if settings.procedures_path is not None:
        try:
            text = settings.procedures_path.read_text()
        except OSError as exc:
            from kuzet.settings import SettingsError

            raise SettingsError(f"KUZET_PROCEDURES_PATH={str(settings.procedures_path)!r}: "
                                f"{exc}") from None
        return load_procedures(text, str(settings.procedures_path))
    text = resources.files("domain").joinpath("procedures.toml").read_text()
    return load_procedures(text, "domain/procedures.toml")


def load_routing_policy(settings: Settings) -> RoutingPolicy:
    """Sites and `[[routes]]` from KUZET_SITES_PATH; none configured: the rules' agencies only."""
    if settings.sites_path is None:
        return RoutingPolicy()
    import tomllib

    from kuzet.settings import SettingsError

    try:
        data = tomllib.loads(settings.sites_path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"KUZET_SITES_PATH={str(settings.sites_path)!r}: {exc}") from None
    return load_routing(data, load_sites(data))


WORKER_AGGREGATE_CACHE = 8192
"""Incidents and tracks the correlator keeps decoded between evidence flushes."""


def build_incident_app(settings: Settings, rules: RuleSet | None = None, *,
                       cache_aggregates: bool = False) -> IncidentApp:
    """The incident application on the configured store, after the schema step every process
    runs at start (`kuzet.schema`: every store's tables, under the schema lock; unreachable
    databases fail here within KUZET_CONNECT_TIMEOUT_S, saying why).

    `cache_aggregates` (the correlator only) keeps recently used aggregates in memory and
    fast-forwards them with just their new events on each load, instead of replaying a busy
    incident's whole history for every evidence flush. Only the correlator gets it: it never
    shows aggregates to people, so a cached copy cannot outlive an erasure on screen.
    """
    from kuzet.schema import ensure_schema, schema_lock

    with schema_lock(settings):
        ensure_schema(settings)
        return open_incident_app(settings, rules, cache_aggregates=cache_aggregates)


def open_incident_app(settings: Settings, rules: RuleSet | None = None, *,
                      cache_aggregates: bool = False) -> IncidentApp:
    """The incident application alone (its factory creates the event store's tables)."""
    env = settings.event_store_env()
    if cache_aggregates:
        env = {**env, "AGGREGATE_CACHE_MAXSIZE": str(WORKER_AGGREGATE_CACHE)}
    return IncidentApp(env, rules or load_rule_set(settings), load_routing_policy(settings),
                       load_procedure_set(settings))


def build_log_reader(app: IncidentApp, *, stored_form: bool = False) -> FastLogReader:
    """The app's notification log as `LogEvent`s, for projections, the relay and audits.

    `FastLogReader` decodes the stored bytes itself and equals `domain.log.LogReader` (the
    mapper's decoding, which it falls back to for anything unusual). `stored_form` leaves
    personal values sealed: what the relay publishes, so no topic ever holds them in clear.
    """
    from eventstore.fastlog import FastLogReader

    return FastLogReader(app, stored_form=stored_form)


def build_recorded_log(app: IncidentApp) -> RecordedLog:
    """The app's notification log with recorded times, for time travel (`projections.asof`).

    Hand this to the API so an auditors' query can call `view_as_of`/`board_as_of`; raises
    `eventstore.log.UnchainedStoreError` if the store keeps no hash chain (no recorded times).
    """
    from eventstore.log import ChainedLog

    return ChainedLog(app)


def event_store_location(settings: Settings) -> str:
    """The event store's database: its `postgresql://` URL or its SQLite file."""
    return settings.event_store_url or str(settings.data_dir / "events.sqlite")


def build_positions(settings: Settings) -> PositionStore:
    """Followers' positions (`kuzet_positions`) in the event store's database; the table is
    created by `kuzet db migrate` and by every process's schema step (`kuzet.schema`)."""
    from eventstore.positions import PositionStore

    return PositionStore(event_store_location(settings),
                         connect_timeout_s=settings.connect_timeout_s)


def build_lease(settings: Settings, name: str, *, read_models: bool = False
                ) -> PostgresLease | FileLease:
    """The lease that makes one instance of follower `name` active: an advisory lock on the
    event store's PostgreSQL, or a lock file beside its SQLite file (`eventstore.lease`).
    `read_models`: on the read models' database instead (the projection runner's, so that
    each read-model database has its own active runner)."""
    from pathlib import Path

    from eventstore.lease import FileLease, PostgresLease

    if read_models:
        url, file = settings.read_model_url, settings.data_dir / "views.sqlite"
    else:
        url, file = settings.event_store_url, settings.data_dir / "events.sqlite"
    if url:
        return PostgresLease(url, name, connect_timeout_s=settings.connect_timeout_s)
    return FileLease(Path(file), name)


def stream_config(settings: Settings) -> Any:
    from datetime import timedelta

    from domain.detection import Skew
    from kuzet.kafka import client_options
    from streams.app import StreamConfig

    return StreamConfig(
        bootstrap_servers=settings.bootstrap_servers,
        client_options=client_options(settings),
        group_id=settings.consumer_group,
        partitions=settings.kafka_partitions,
        batch_size=settings.batch_size,
        batch_within_s=settings.batch_within_s,
        tick_interval_s=settings.tick_interval_s,
        data_dir=str(settings.data_dir),
        offset_reset=settings.offset_reset,
        session_timeout_s=settings.consumer_session_timeout_s,
        fetch_wait_ms=settings.fetch_wait_ms,
        skew=Skew(ahead=timedelta(seconds=settings.detection_skew_ahead_s),
                  behind=timedelta(seconds=settings.detection_skew_behind_s)),
    )


def build_worker_app(settings: Settings, on_correlator: Any = None) -> mode.Service:
    from datetime import timedelta

    from streams.app import create_service
    from streams.engine import CorrelationEngine

    rules = load_rule_set(settings)
    incident_app = build_incident_app(settings, rules, cache_aggregates=True)
    engine: CorrelationEngine[Any] = CorrelationEngine(
        incident_app, rules, evidence_interval=timedelta(seconds=settings.evidence_interval_s),
        ledger_retention=timedelta(seconds=settings.detection_skew_behind_s, days=1))
    return create_service(stream_config(settings), engine, rules, on_correlator=on_correlator)
