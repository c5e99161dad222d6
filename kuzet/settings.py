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

CHAINED_SQLITE = "eventstore.store_sqlite:ChainedSQLiteFactory"
CHAINED_POSTGRES = "eventstore.store_postgres:ChainedPostgresFactory"
"""The event store factories: eventsourcing's, plus the audit hash chain (`audit/`)."""

_SECRET_FIELDS = frozenset({"token_secret", "signing_key", "adapter_signing_key",
                            "privacy_pepper", "appeals_token", "kafka_sasl_password"})


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
    kafka_fetch_wait_ms: int = 0
    """How long a consumer's fetch may wait at the broker for records (Kafka's
    `fetch.max.wait.ms`). 0: 10 ms on the embedded broker, 500 ms on a cluster. Apache Kafka
    answers a waiting fetch as soon as a record arrives, so there the wait only bounds idle
    requests; the embedded broker (Tansu) answers only when the wait ends, so there the wait
    is added to every hop's latency (500 ms made detection -> incident ~250 ms slower per
    hop; `bench/e2e_latency.py`)."""
    kafka_partitions: int = 4
    """Partitions for topics Kuzet creates itself (detections, correlation)."""
    kafka_security_protocol: str = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (docs/deployment.md says which processes
    pass it and the other kafka_* options below to their Kafka clients)."""
    kafka_sasl_mechanism: str = "PLAIN"
    """With SASL_*: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    kafka_ssl_cafile: Path | None = None
    """With SSL / SASL_SSL: CA bundle of the brokers' certificates (empty: the system's)."""
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    """Client certificate and key for mutual TLS (optional)."""
    rules_path: Path | None = None
    """Correlation rules TOML; empty uses the rules shipped in `domain/rules.toml`."""
    rules_author: str = ""
    """Author recorded when a worker activates its rules (empty: the OS user)."""
    procedures_path: Path | None = None
    """Procedures (checklists, two-person kinds) TOML; empty uses `domain/procedures.toml`."""
    evidence_interval_s: float = 5.0
    """At most one EvidenceAdded per incident per this many seconds (coalescing)."""
    detection_skew_ahead_s: float = 300.0
    """A detection observed more than this ahead of the worker's clock goes to the DLQ."""
    detection_skew_behind_s: float = 604800.0
    """A detection observed more than this (default 7 days) behind it goes to the DLQ."""
    tick_interval_s: float = 1.0
    """How often the correlator runs its timers (auto-resolve, SLA escalation)."""
    batch_size: int = 2000
    batch_within_s: float = 0.2
    consumer_group: str = "kuzet-correlator"
    camera_silent_after_s: float = 120.0
    """A camera with no frames this long is offline (`kuzet cameras watch`)."""
    camera_repeat_s: float = 60.0
    """While offline, one `camera_offline` record per this many seconds (keeps it open)."""
    appeals_token: str = field(default="", repr=False)
    """Bearer token the appeal portal must send to `kuzet appeals serve` (empty: none)."""
    log_level: str = "warn"
    log_format: str = "console"
    """`console` (readable lines) or `json` (one JSON object per line: timestamp, level,
    logger, event and any ids passed in `extra`); also `kuzet --log-format`."""
    connect_timeout_s: float = 5.0
    """How long connecting to PostgreSQL or Kafka may take before the process gives up with
    one line naming the host and the cause (refused, no such role or database, auth, DNS)."""
    offset_reset: str = "earliest"
    """A consumer position beyond its partition's end (topic recreated, e.g. an embedded-broker
    restart): `earliest` rereads the partition (harmless: the store de-duplicates), `latest`
    skips to its end. Also where a group without committed offsets starts."""
    health_port: int = 0
    """Serve /healthz and /readyz on 127.0.0.1:this port (0: off; `kuzet up` assigns ports)."""
    consumer_session_timeout_s: float = 10.0
    """How long the broker waits for a silent worker before handing its partitions to the
    others (also the rebalance timeout): shorter fails over faster after a crash."""
    # --- projections / relay -----------------------------------------------------------
    read_model_url: str = ""
    """Empty: SQLite file `<data_dir>/views.sqlite`. `postgresql://user@host:port/db`: PG."""
    sites_path: Path | None = None
    """Sites and routes TOML (district, contractor, school per site); see examples/sites.toml."""
    districts_path: Path | None = None
    """District boundaries (GeoJSON) for the console's map; see examples/districts.geojson."""
    canteen_min_k: int = 5
    """Canteen head-counts below this are suppressed in the education view."""
    relay_source: str = "urn:kuzet:incidents"
    """The CloudEvents `source` of relayed incident events."""
    lease_poll_s: float = 1.0
    """How often a standby relay or projection runner asks for the lease (and the active one
    checks it still holds it): a standby takes over within about this long of a death."""
    view_max_staleness_s: float = 15.0
    """A read model behind the log whose projection process has not reported (heartbeat) for
    this long is not served: `incidents` folds the event store, agency views say why."""
    # --- api / auth -------------------------------------------------------------------
    token_secret: str = field(default="", repr=False)
    """Secret an Ed25519 token key is derived from (development), unless
    KUZET_TOKEN_SIGNING_KEY_PATH is set; never printed."""
    token_signing_key_path: Path | None = None
    """PEM (PKCS#8) Ed25519 or EC P-256 private key that signs tokens (EdDSA / ES256)."""
    token_public_keys_path: Path | None = None
    """PEM file of further public keys accepted (key rotation: several keys, one signer)."""
    token_issuer: str = "urn:kuzet"  # noqa: S105 - a name, not a secret
    token_audience: str = "kuzet-api"  # noqa: S105 - a name, not a secret
    token_max_ttl_s: int = 24 * 3600
    """Tokens living longer (exp - iat) are refused; `kuzet token create` refuses them too."""
    oidc_issuer: str = ""
    """The city's identity provider (OIDC issuer); empty: only Kuzet's own tokens."""
    oidc_jwks_url: str = ""
    oidc_audience: str = "kuzet-api"
    oidc_role_claim: str = "groups"
    oidc_roles: str = ""
    """Claim value -> role[:agency], e.g. `kuzet-police=police,duty-zhkkh=operator:zhkkh`."""
    api_introspection_for_admin: bool = False
    """Outside dev mode GraphQL introspection is off; this allows it for admins."""
    api_max_ws_per_principal: int = 8
    api_max_ws_per_address: int = 64
    api_max_subscriptions_per_principal: int = 40
    signing_key: str = field(default="", repr=False)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    timezone: str = "Asia/Almaty"
    """The city's clock (IANA zone): the console shows times in it, 24-hour, with offsets."""
    dev_mode: bool = False
    """Development mode: GraphiQL at /graphql and `kuzet up` prints a dev operator token."""
    token_ttl_s: int = 8 * 3600
    """Default lifetime of tokens issued by `kuzet token create`."""
    api_max_page_size: int = 200
    api_max_body_bytes: int = 64 * 1024
    api_poll_interval_s: float = 0.01
    """How often the API's log follower polls the event store's notification log when it is
    caught up: half of it, on average, is added to every live update's latency (one cheap
    query per poll: ~100 idle queries/s per API process)."""
    # --- agency adapters (kuzet adapter ...) -------------------------------------------
    adapter_signing_key: str = field(default="", repr=False)
    """Base64 Ed25519 seed (32 bytes) that signs every webhook delivery; never printed."""
    adapter_signing_key_path: Path | None = None
    """Or a file holding the key: PEM (PKCS#8) or the base64 seed (`kuzet adapter keygen`)."""
    adapter_state_url: str = ""
    """Checkpoints, receipts, parked events. Empty: the PostgreSQL event store when configured,
    else SQLite `<data_dir>/adapters.sqlite`; or a `postgresql://` URL of its own."""
    adapter_max_attempts: int = 8
    """Delivery attempts (connection errors, timeouts, 408/429/5xx) before an event is parked."""
    adapter_backoff_base_s: float = 0.5
    adapter_backoff_cap_s: float = 60.0
    """Backoff doubles from base up to cap, with jitter (half fixed, half random)."""
    adapter_timeout_s: float = 10.0
    """Per-attempt HTTP timeout (connect, read, write) of a webhook delivery."""
    adapter_agency_keys: str = ""
    """Agencies' Ed25519 public keys for report-backs: `police:BASE64,zhkkh:BASE64`."""
    adapter_inbound_host: str = "127.0.0.1"
    adapter_inbound_port: int = 8100
    adapter_max_skew_s: float = 300.0
    """A signed report-back whose timestamp is further than this from now is refused."""
    # --- personal data (kuzet privacy ...) ---------------------------------------------
    privacy_pepper: str = field(default="", repr=False)
    """Secret (>= 16 characters) keying the identity hashes of the key table. Required with
    KUZET_EVENT_STORE_URL; the local SQLite store generates one in <data_dir>/privacy-pepper."""
    privacy_key_cache_s: float = 5.0
    """How long a process may keep using a data key: another process's shred holds within it."""
    retention_days_face: float = 30.0
    retention_days_plate: float = 30.0
    retention_days_snapshot: float = 30.0
    retention_days_free_text: float = 365.0
    """Days after a key's creation when `kuzet privacy retention` shreds it (legal holds skip).
    Free text is operators' notes, sealed per incident: they may name anyone."""
    # --- detection archive (kuzet archive run, kuzet search) -----------------------------
    archive_url: str = ""
    """Empty: the event store's PostgreSQL database, or SQLite `<data_dir>/archive.sqlite`
    with the local store. Or a `postgresql://` URL of its own."""
    archive_retention_days: float = 30.0
    """Whole days of detections the archive keeps (PostgreSQL drops a day's partition)."""
    archive_batch: int = 5000
    """Detections per archive write (one COPY on PostgreSQL)."""

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
    def fetch_wait_ms(self) -> int:
        """`kafka_fetch_wait_ms`, or its default for the broker in use."""
        if self.kafka_fetch_wait_ms > 0:
            return self.kafka_fetch_wait_ms
        return 10 if self.uses_embedded_broker else 500

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_url or f"127.0.0.1:{self.embedded_broker_port}"

    def event_store_env(self) -> dict[str, str]:
        """The eventsourcing `env` for the incident application (passed explicitly)."""
        url = self.event_store_url
        if not url:
            self.ensure_data_dir()
            return {
                "PERSISTENCE_MODULE": CHAINED_SQLITE,
                "SQLITE_DBNAME": str(self.data_dir / "events.sqlite"),
                "SQLITE_LOCK_TIMEOUT": "30",
                **self.privacy_env(),
            }
        return {**postgres_env(url, self.connect_timeout_s), **self.privacy_env()}

    def ensure_data_dir(self) -> Path:
        """`data_dir`, created with its parents if missing; a one-line `SettingsError` if it
        cannot be (a file in the way, no permission, a read-only disk)."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SettingsError(f"KUZET_DATA_DIR={str(self.data_dir)!r}: cannot create it "
                                f"({exc.strerror or exc})") from None
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise SettingsError(f"KUZET_DATA_DIR={str(self.data_dir)!r}: not writable")
        return self.data_dir

    def privacy_env(self) -> dict[str, str]:
        """What the sealing store factories read (`eventstore.sealing.SealingFactoryMixin`)."""
        return {"PRIVACY_PEPPER": self._pepper(),
                "PRIVACY_KEY_CACHE_S": str(self.privacy_key_cache_s)}

    def _pepper(self) -> str:
        if self.privacy_pepper:
            return self.privacy_pepper
        if self.event_store_url:
            raise SettingsError("KUZET_PRIVACY_PEPPER is required with KUZET_EVENT_STORE_URL "
                                "(a secret of 16+ characters, the same for every process)")
        return _local_pepper(self.data_dir / "privacy-pepper")

    @property
    def archive_location(self) -> str:
        """Where the detection archive lives: a `postgresql://` URL or a SQLite path."""
        if self.archive_url:
            return self.archive_url
        if self.event_store_url:
            return self.event_store_url
        return str(self.ensure_data_dir() / "archive.sqlite")

    @property
    def retention_days(self) -> dict[str, float]:
        """Retention per data class (`domain.erasure.DataClass`), in days."""
        return {"face": self.retention_days_face, "plate": self.retention_days_plate,
                "snapshot": self.retention_days_snapshot,
                "free_text": self.retention_days_free_text}


def _local_pepper(path: Path) -> str:
    """The local store's pepper: generated once (mode 0600), then read by every process."""
    import secrets

    if not path.exists():
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        tmp.write_text(secrets.token_urlsafe(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic: exactly one process's pepper wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def postgres_env(url: str, connect_timeout_s: float = 5.0) -> dict[str, str]:
    """eventsourcing's PostgreSQL settings for a `postgresql://` URL (eventsourcing takes
    whole seconds for the connection timeout: rounded up, at least 1)."""
    import math
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres"} or not parts.path.strip("/"):
        raise SettingsError(
            f"KUZET_EVENT_STORE_URL={_redact(url)!r}: expected postgresql://user@host:port/db"
        )
    return {
        "PERSISTENCE_MODULE": CHAINED_POSTGRES,
        "POSTGRES_DBNAME": parts.path.strip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_CONN_MAX_AGE": "",
        "POSTGRES_CONNECT_TIMEOUT": str(max(1, math.ceil(connect_timeout_s))),
    }


def _check_kafka_security(settings: Settings) -> None:
    protocol, mechanism = settings.kafka_security_protocol, settings.kafka_sasl_mechanism
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise SettingsError(f"KUZET_KAFKA_SECURITY_PROTOCOL={protocol!r}: PLAINTEXT, SSL, "
                            "SASL_PLAINTEXT or SASL_SSL")
    if mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        raise SettingsError(f"KUZET_KAFKA_SASL_MECHANISM={mechanism!r}: PLAIN, SCRAM-SHA-256 "
                            "or SCRAM-SHA-512")
    if protocol.startswith("SASL") and not (settings.kafka_sasl_username
                                            and settings.kafka_sasl_password):
        raise SettingsError(f"KUZET_KAFKA_SECURITY_PROTOCOL={protocol}: needs "
                            "KUZET_KAFKA_SASL_USERNAME and KUZET_KAFKA_SASL_PASSWORD")


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
    if settings.offset_reset not in ("earliest", "latest"):
        raise SettingsError(f"KUZET_OFFSET_RESET={settings.offset_reset!r}: earliest or latest")
    if settings.log_format not in ("console", "json"):
        raise SettingsError(f"KUZET_LOG_FORMAT={settings.log_format!r}: console or json")
    if settings.connect_timeout_s <= 0:
        raise SettingsError(f"KUZET_CONNECT_TIMEOUT_S={settings.connect_timeout_s}: must be > 0")
    if settings.detection_skew_ahead_s <= 0 or settings.detection_skew_behind_s <= 0:
        raise SettingsError("KUZET_DETECTION_SKEW_AHEAD_S and KUZET_DETECTION_SKEW_BEHIND_S "
                            "must be > 0")
    if settings.lease_poll_s <= 0:
        raise SettingsError(f"KUZET_LEASE_POLL_S={settings.lease_poll_s}: must be > 0")
    if settings.kafka_partitions < 1:
        raise SettingsError(f"KUZET_KAFKA_PARTITIONS={settings.kafka_partitions}: must be >= 1")
    _check_kafka_security(settings)
    _check_privacy(settings)
    return settings


def _check_privacy(settings: Settings) -> None:
    if settings.privacy_pepper and len(settings.privacy_pepper) < 16:
        raise SettingsError("KUZET_PRIVACY_PEPPER=***: must be at least 16 characters")
    if settings.archive_retention_days <= 0 or settings.archive_batch < 1:
        raise SettingsError("KUZET_ARCHIVE_RETENTION_DAYS must be > 0 and KUZET_ARCHIVE_BATCH "
                            ">= 1")
    for data_class, days in settings.retention_days.items():
        if days <= 0:
            raise SettingsError(f"KUZET_RETENTION_DAYS_{data_class.upper()}={days}: must be > 0")
