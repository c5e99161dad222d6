"""`kuzet api` (serve the GraphQL API with uvicorn) and `kuzet token create`.

Builds the API's frozen `ApiConfig` from `Settings`; `api/` itself never reads the
environment. `announce` prints the API URL and a dev operator token for `kuzet up`.
"""

from __future__ import annotations

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


def api_config(settings: Settings) -> ApiConfig:
    """The API's configuration from settings; a missing token secret names its key."""
    from api.config import ApiConfig
    from api.errors import ApiConfigError
    from kuzet.wiring import load_rule_set

    if not settings.token_secret:
        raise SettingsError("KUZET_TOKEN_SECRET is required by the API (16+ characters)")
    try:
        return ApiConfig(
            event_store_env=settings.event_store_env(), rules=load_rule_set(settings),
            token_secret=settings.token_secret, dev_mode=settings.dev_mode,
            max_page_size=settings.api_max_page_size,
            max_body_bytes=settings.api_max_body_bytes,
            poll_interval_s=settings.api_poll_interval_s, read_model=read_model_location(settings),
            timezone=settings.timezone, max_view_staleness_s=settings.view_max_staleness_s,
            connect_timeout_s=settings.connect_timeout_s)
    except ApiConfigError as exc:  # names the setting; never echoes the secret
        raise SettingsError(f"API settings: {exc}") from None


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
    app = create_app(api, incidents, _recorded_log(incidents), views)
    console.print(f"Kuzet API on http://{settings.api_host}:{settings.api_port}/graphql "
                  f"(console: /console)")
    level = settings.log_level
    # No permessage-deflate: live frames are ~150 bytes, and compressing each one per
    # subscriber costs more CPU than the bandwidth it saves (bench/api_fanout.py --deflate).
    uvicorn.run(app, host=settings.api_host, port=settings.api_port,
                log_level="warning" if level == "warn" else level, ws="websockets-sansio",
                ws_per_message_deflate=False)


def dev_token(settings: Settings, role: str = "operator", subject: str = "dev-operator",
              agency: str | None = None, ttl_s: int | None = None) -> str:
    from api.auth import Role, issue_token

    if not settings.token_secret:
        raise SettingsError("KUZET_TOKEN_SECRET is required to sign tokens")
    try:
        parsed = Role(role)
    except ValueError:
        raise SettingsError(f"role={role!r}: one of {', '.join(r.value for r in Role)}") from None
    return issue_token(settings.token_secret, subject=subject, role=parsed, agency=agency,
                       ttl_s=ttl_s or settings.token_ttl_s)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="operator, supervisor, police, zhkkh, education, "
                                           "auditor or admin.")],
    agency: Annotated[str | None, typer.Option(help="Agency (default: the role's).")] = None,
    subject: Annotated[str, typer.Option(help="Operator / user id.")] = "cli-user",
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Print a signed bearer token."""
    typer.echo(dev_token(load_settings(config), role, subject, agency, ttl))


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
    from audit.links import ChainError
    from kuzet.wiring import build_recorded_log

    try:
        return build_recorded_log(incidents)
    except ChainError:
        return None
