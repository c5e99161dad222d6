"""Builds the pieces from `Settings`: rules, the incident application, the engine, Faust."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

from domain.application import IncidentApp
from domain.routing import RoutingPolicy, load_routing, load_sites
from domain.rules import RuleSet, load_rules
from kuzet.settings import Settings

if TYPE_CHECKING:
    import faust

__all__ = ["build_incident_app", "build_worker_app", "load_rule_set", "stream_config"]


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


def build_incident_app(settings: Settings, rules: RuleSet | None = None) -> IncidentApp:
    return IncidentApp(settings.event_store_env(), rules or load_rule_set(settings),
                       load_routing_policy(settings))


def stream_config(settings: Settings) -> Any:
    from streams.app import StreamConfig

    return StreamConfig(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.consumer_group,
        partitions=settings.kafka_partitions,
        batch_size=settings.batch_size,
        batch_within_s=settings.batch_within_s,
        tick_interval_s=settings.tick_interval_s,
        data_dir=str(settings.data_dir),
    )


def build_worker_app(settings: Settings) -> faust.App:
    from datetime import timedelta

    from streams.app import create_app
    from streams.engine import CorrelationEngine

    rules = load_rule_set(settings)
    incident_app = build_incident_app(settings, rules)
    engine: CorrelationEngine[Any] = CorrelationEngine(
        incident_app, rules, evidence_interval=timedelta(seconds=settings.evidence_interval_s))
    return create_app(stream_config(settings), engine, rules)
