"""`kuzet api` (serve the GraphQL API with uvicorn) and `kuzet token create`.

Builds the API's frozen `ApiConfig` from `Settings`; `api/` itself never reads the
environment. `announce` prints the API URL and a dev operator token for `kuzet up`.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from kuzet.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from api.config import ApiConfig

__all__ = ["announce", "api_config", "dev_token", "read_model_location", "register"]

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings TOML file.")]
token_app = typer.Typer(help="Issue bearer tokens for the API.", no_args_is_help=True)


def load_districts(settings: Settings) -> dict[str, Any] | None:
    """The console map's districts (KUZET_DISTRICTS_PATH, GeoJSON), each feature given the
    sites of its district (KUZET_SITES_PATH) as `properties.sites`; None when not configured."""
    import json

    from kuzet.wiring import load_routing_policy

    if settings.districts_path is None:
        return None
    try:
        data = json.loads(settings.districts_path.read_text("utf-8"))
        features = data["features"]
        sites = load_routing_policy(settings).sites.sites
        for feature in features:
            name = feature["properties"]["district"]
            feature["properties"]["sites"] = sorted(
                s.site_id for s in sites.values() if s.district == name)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SettingsError(f"KUZET_DISTRICTS_PATH={str(settings.districts_path)!r}: not a "
                            f"GeoJSON FeatureCollection with properties.district ({exc!r})"
                            ) from None
    return dict(data)


def api_config(settings: Settings) -> ApiConfig:
    """The API's configuration from settings; a missing token secret names its key."""
    from api.config import ApiConfig
    from api.errors import ApiConfigError
    from kuzet.wiring import load_rule_set

    keys = token_keys(settings)
    try:
        return ApiConfig(
            event_store_env=settings.event_store_env(), rules=load_rule_set(settings),
            token_keys=keys, token_issuer=settings.token_issuer,
            token_audience=settings.token_audience, token_max_ttl_s=settings.token_max_ttl_s,
            oidc=_oidc(settings), introspection_for_admin=settings.api_introspection_for_admin,
            max_ws_per_principal=settings.api_max_ws_per_principal,
            max_ws_per_address=settings.api_max_ws_per_address,
            max_subscriptions_per_principal=settings.api_max_subscriptions_per_principal,
            dev_mode=settings.dev_mode,
            max_page_size=settings.api_max_page_size,
            max_body_bytes=settings.api_max_body_bytes,
            poll_interval_s=settings.api_poll_interval_s, read_model=read_model_location(settings),
            timezone=settings.timezone, max_view_staleness_s=settings.view_max_staleness_s,
            connect_timeout_s=settings.connect_timeout_s,
            evidence_dir=settings.data_dir / "evidence", districts=load_districts(settings))
    except ApiConfigError as exc:  # names the setting; never echoes the secret
        raise SettingsError(f"API settings: {exc}") from None


def token_keys(settings: Settings) -> Any:
    """The token key ring: the PEM signing key (and further public keys) when configured,
    else one derived from KUZET_TOKEN_SECRET; a missing or unreadable key names its setting."""
    from api.errors import InvalidToken
    from api.tokens import KeyRing

    def read(path: Path, key: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SettingsError(f"{key}={str(path)!r}: {exc.strerror}") from None

    public = ([read(settings.token_public_keys_path, "KUZET_TOKEN_PUBLIC_KEYS_PATH")]
              if settings.token_public_keys_path else [])
    try:
        if settings.token_signing_key_path is not None:
            private = read(settings.token_signing_key_path, "KUZET_TOKEN_SIGNING_KEY_PATH")
            return KeyRing.from_pem(private, public)
        if len(settings.token_secret) < 16:
            raise SettingsError("KUZET_TOKEN_SIGNING_KEY_PATH or KUZET_TOKEN_SECRET (16+ "
                                "characters) is required to sign and verify tokens")
        ring = KeyRing.from_secret(settings.token_secret)
        return KeyRing.of(ring.signing, list(KeyRing.from_pem(None, public).public.values()))
    except InvalidToken as exc:
        raise SettingsError(f"token keys: {exc}") from None


def _oidc(settings: Settings) -> Any:
    """The identity provider's verifier, when KUZET_OIDC_ISSUER is set."""
    if not settings.oidc_issuer:
        return None
    from api.tokens import OidcVerifier

    if not settings.oidc_jwks_url or not settings.oidc_roles:
        raise SettingsError("KUZET_OIDC_ISSUER needs KUZET_OIDC_JWKS_URL and KUZET_OIDC_ROLES")
    roles = {}
    for pair in settings.oidc_roles.split(","):
        value, sep, role = pair.strip().partition("=")
        if not sep or not value or not role:
            raise SettingsError(f"KUZET_OIDC_ROLES={settings.oidc_roles!r}: expected "
                                "claim-value=role[:agency],...")
        roles[value] = role
    return OidcVerifier(issuer=settings.oidc_issuer, jwks_url=settings.oidc_jwks_url,
                        audience=settings.oidc_audience, roles=roles,
                        role_claim=settings.oidc_role_claim,
                        max_ttl_s=settings.token_max_ttl_s)


def read_model_location(settings: Settings) -> str:
    """Where `kuzet projections run` keeps the views: KUZET_READ_MODEL_URL or its SQLite file."""
    return settings.read_model_url or str(settings.data_dir / "views.sqlite")


def serve(config: ConfigOpt = None, host: str | None = None, port: int | None = None) -> None:
    """Serve the GraphQL API (/graphql, WebSocket subscriptions, /console) with uvicorn."""
    import uvicorn

    from api import create_app
    from kuzet.wiring import build_incident_app
    from projections import all_views

    settings = load_settings(config, api_host=host, api_port=port)
    settings.ensure_data_dir()  # the default read-model file's home
    api = api_config(settings)
    incidents = build_incident_app(settings, api.rules)  # with the routing policy
    views = all_views(incidents.routing.sites, settings.canteen_min_k)  # as the runner has them
    from kuzet.commands.search import graphql_port

    app = create_app(api, incidents, _recorded_log(incidents), views,
                     graphql_port(settings, incidents))
    console.print(f"Kuzet API on http://{settings.api_host}:{settings.api_port}/graphql "
                  f"(console: /console)")
    from kuzet.health import port_answers, serve_health

    serve_health("api", settings.health_port,  # ready once uvicorn answers on the API port
                 lambda: port_answers(settings.api_host, settings.api_port))
    from kuzet.lifecycle import Stopping, raise_on_signals

    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # that was there before it: ours, so a requested stop exits 0 (`kuzet.lifecycle`)
    raise_on_signals()
    with contextlib.suppress(Stopping):
        _serve(uvicorn, app, settings)


def _serve(uvicorn: Any, app: Any, settings: Settings) -> None:
    from kuzet.logs import uvicorn_log_config

    level = settings.log_level
    # No permessage-deflate: live frames are ~150 bytes, and compressing each one per
    # subscriber costs more CPU than the bandwidth it saves (bench/api_fanout.py --deflate).
    uvicorn.run(app, host=settings.api_host, port=settings.api_port,
                log_level="warning" if level == "warn" else level, ws="websockets-sansio",
                ws_per_message_deflate=False, ws_max_size=settings.api_max_body_bytes,
                log_config=uvicorn_log_config())


def dev_token(settings: Settings, role: str = "operator", subject: str = "dev-operator",
              agency: str | None = None, ttl_s: int | None = None) -> str:
    """A signed token; a role acting for an agency it cannot, or a lifetime over
    KUZET_TOKEN_MAX_TTL_S, is refused with a `SettingsError` that says why."""
    from api.auth import Role
    from api.errors import InvalidToken
    from api.tokens import issue_token

    try:
        parsed = Role(role)
    except ValueError:
        raise SettingsError(f"role={role!r}: one of {', '.join(r.value for r in Role)}") from None
    try:
        return issue_token(token_keys(settings), subject=subject, role=parsed, agency=agency,
                           ttl_s=ttl_s if ttl_s is not None
                           else min(settings.token_ttl_s, settings.token_max_ttl_s),
                           issuer=settings.token_issuer, audience=settings.token_audience,
                           max_ttl_s=settings.token_max_ttl_s)
    except InvalidToken as exc:
        raise SettingsError(f"token refused: {exc}") from None


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="operator, supervisor, police, zhkkh, education, "
                                           "auditor or admin.")],
    agency: Annotated[str | None, typer.Option(help="Agency (default: the role's).")] = None,
    subject: Annotated[str, typer.Option(help="Operator / user id.")] = "cli-user",
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Print a signed bearer token (JWT; its `jti` names it for `kuzet token revoke`)."""
    if ttl is not None and ttl < 1:
        raise typer.BadParameter(f"--ttl {ttl}: a token lives at least 1 second")
    try:
        typer.echo(dev_token(load_settings(config), role, subject, agency, ttl))
    except SettingsError as exc:
        raise typer.BadParameter(str(exc)) from None


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(help="The token, or its id (jti).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the event store).")] = "",
    by: Annotated[str, typer.Option(help="Who revokes.")] = "cli-admin",
    config: ConfigOpt = None,
) -> None:
    """Revoke a token: every API process refuses it within a second, sockets included."""
    from datetime import UTC, datetime

    from api.errors import InvalidToken
    from api.revocations import revoke
    from api.tokens import unverified_claims
    from kuzet.wiring import build_incident_app

    settings = load_settings(config)
    jti, expires = token, 0
    if token.count(".") == 2:
        try:
            claims = unverified_claims(token)
        except InvalidToken as exc:
            raise typer.BadParameter(str(exc)) from None
        jti, expires = str(claims.get("jti", "")), int(claims.get("exp", 0))
    app = build_incident_app(settings)
    done = revoke(app, jti=jti, by=by, reason=reason, expires_at=expires, at=datetime.now(UTC))
    typer.echo(f"revoked {jti}" if done else f"{jti} was revoked already")


def with_dev_secret(stack: Any) -> None:
    """`kuzet up` without a secret: a random one for this session, so the API can start."""
    if not stack.settings.token_secret:
        import dataclasses

        stack.settings = dataclasses.replace(stack.settings,
                                             token_secret=secrets.token_urlsafe(32))


def announce(stack: Any, out: Any) -> None:
    """Print the API and console URLs and a dev operator token (valid for the token TTL)."""
    s = stack.settings
    base = f"http://{s.api_host}:{s.api_port}"
    out.print(f"API: {base}/graphql   console: {base}/console")
    out.print(f"dev operator token: {dev_token(s)}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("api")(serve)
    app.add_typer(token_app, name="token")


def _recorded_log(incidents: Any) -> Any:
    """The log with recorded times for `boardAt`, or None on a store without the audit chain."""
    from eventstore.links import ChainError
    from kuzet.wiring import build_recorded_log

    try:
        return build_recorded_log(incidents)
    except ChainError:
        return None
