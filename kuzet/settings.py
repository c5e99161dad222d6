"""Settings: the one place that reads the environment (STYLE.md item 8).

A frozen `Settings` is built once per entrypoint from, in increasing priority: defaults, an
optional TOML file (`KUZET_CONFIG` or `--config`), and `KUZET_*` environment variables. Every
field maps to `KUZET_<FIELD>` (upper case). Bad values raise `SettingsError` naming the key and
value; secrets never appear in `repr` or error messages.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["Settings", "SettingsError", "load_settings"]

_SECRET_FIELDS = frozenset({"token_secret", "signing_key"})


class SettingsError(Exception):
    """Raised when a setting is missing or has a bad value; the message names key and value."""


@dataclass(frozen=True)
class Settings:
    # --- core ---------------------------------------------------------------------------
    data_dir: Path = Path(".kuzet")
    """Where the SQLite stores, broker logs and evidence live by default."""
    event_store_url: str = ""
    """Empty: SQLite file `<data_dir>/events.sqlite`. `postgresql://user@host:port/db`: PG."""
    kafka_url: str = ""
    """Empty: the embedded broker. Otherwise `host:port[,host:port]` of a Kafka cluster."""
    embedded_broker_port: int = 9092
    kafka_partitions: int = 4
    """Partitions for topics Kuzet creates itself (detections, correlation)."""
    rules_path: Path | None = None
    """Correlation rules TOML; empty uses the rules shipped in `domain/rules.toml`."""
    evidence_interval_s: float = 5.0
    """At most one EvidenceAdded per incident per this many seconds (coalescing)."""
    tick_interval_s: float = 1.0
    """How often the correlator runs its timers (auto-resolve, SLA escalation)."""
    batch_size: int = 2000
    batch_within_s: float = 0.2
    consumer_group: str = "kuzet-correlator"
    log_level: str = "warn"
    # --- projections / relay -----------------------------------------------------------
    read_model_url: str = ""
    """Empty: SQLite file `<data_dir>/views.sqlite`. `postgresql://user@host:port/db`: PG."""
    sites_path: Path | None = None
    """Sites and routes TOML (district, contractor, school per site); see examples/sites.toml."""
    canteen_min_k: int = 5
    """Canteen head-counts below this are suppressed in the education view."""
    relay_source: str = "urn:kuzet:incidents"
    """The CloudEvents `source` of relayed incident events."""
    # --- api / auth -------------------------------------------------------------------
    token_secret: str = field(default="", repr=False)
    """HMAC secret for bearer tokens. Required by the API; never printed."""
    signing_key: str = field(default="", repr=False)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dev_mode: bool = False
    """Development mode: GraphiQL at /graphql and `kuzet up` prints a dev operator token."""
    token_ttl_s: int = 8 * 3600
    """Default lifetime of tokens issued by `kuzet token create`."""
    api_max_page_size: int = 200
    api_max_body_bytes: int = 64 * 1024
    api_poll_interval_s: float = 0.05
    """How often the API's log follower polls the event store's notification log."""

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name in _SECRET_FIELDS else getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"Settings({shown})"

    @property
    def uses_embedded_broker(self) -> bool:
        return not self.kafka_url

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_url or f"127.0.0.1:{self.embedded_broker_port}"

    def event_store_env(self) -> dict[str, str]:
        """The eventsourcing `env` for the incident application (passed explicitly)."""
        url = self.event_store_url
        if not url:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.data_dir / "events.sqlite"),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        return postgres_env(url)


def postgres_env(url: str) -> dict[str, str]:
    """eventsourcing's PostgreSQL settings for a `postgresql://` URL."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres"} or not parts.path.strip("/"):
        raise SettingsError(
            f"KUZET_EVENT_STORE_URL={_redact(url)!r}: expected postgresql://user@host:port/db"
        )
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.strip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_CONN_MAX_AGE": "",
    }


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _coerce(name: str, raw: Any, kind: Any) -> Any:
    shown = "***" if name in _SECRET_FIELDS else repr(raw)
    key = f"KUZET_{name.upper()}"
    text = str(raw).strip()
    try:
        if kind in (int, "int"):
            return int(text)
        if kind in (float, "float"):
            value = float(text)
            if value < 0:
                raise ValueError(value)
            return value
        if kind in (Path, "Path"):
            return Path(text).expanduser()
        if kind in ("Path | None",):
            return Path(text).expanduser() if text else None
        if kind in (bool, "bool"):
            if text.lower() in {"1", "true", "yes", "on"}:
                return True
            if text.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(text)
    except ValueError:
        raise SettingsError(f"{key}={shown}: expected {kind}") from None
    return text


def load_settings(
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build `Settings` from a TOML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config or (Path(env["KUZET_CONFIG"]) if env.get("KUZET_CONFIG") else None)
    if path is not None:
        try:
            values.update(tomllib.loads(path.read_text()).get("kuzet", {}))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"KUZET_CONFIG={str(path)!r}: {exc}") from None
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    for name in known:
        if f"KUZET_{name.upper()}" in env:
            values[name] = env[f"KUZET_{name.upper()}"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    coerced = {k: _coerce(k, v, known[k].type) for k, v in values.items()}
    settings = Settings(**coerced)
    if settings.event_store_url:
        postgres_env(settings.event_store_url)
    if settings.kafka_partitions < 1:
        raise SettingsError(f"KUZET_KAFKA_PARTITIONS={settings.kafka_partitions}: must be >= 1")
    return settings
