"""`kuzet privacy ...` through the commands as `kuzet.cli` registers them, settings from the
environment: the default SQLite store (its pepper generated on first use) and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from domain.application import IncidentApp
from domain.erasure import InvalidErasure
from domain.privacy import SHREDDED
from kuzet.commands import privacy
from kuzet.errors import KuzetError
from kuzet.settings import load_settings
from tests.integration.projections.scenario import RULES, build


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    out = {"KUZET_DATA_DIR": str(tmp_path / "data")}
    if request.param == "postgres":
        out["KUZET_EVENT_STORE_URL"] = request.getfixturevalue("postgres_url")
        out["KUZET_PRIVACY_PEPPER"] = "cli-test-pepper-0123456789"
    return out


@pytest.fixture
def ids(env: dict[str, str]) -> dict[str, str]:
    app = IncidentApp(load_settings(environ=env).event_store_env(), RULES)
    found = asyncio.run(build(app))
    app.close()
    return {k: str(v) for k, v in found.items()}


def run(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    cli = typer.Typer()
    privacy.register(cli)
    return CliRunner().invoke(cli, ["privacy", *args], env=env)


def _subject(env: dict[str, str], incident_id: str) -> dict[str, str]:
    from uuid import UUID

    app = IncidentApp(load_settings(environ=env).event_store_env(), RULES)
    try:
        return dict(app.incident(UUID(incident_id)).subject)
    finally:
        app.close()


def test_hold_refuses_a_shred_until_released(env: dict[str, str], ids: dict[str, str]) -> None:
    plate = ids["plate_match:plate=A123BC02"]
    held = run(env, "hold", plate, "--reason", "case 4/2026", "--by", "op-1")
    assert held.exit_code == 0 and "legal hold placed" in held.output, held.output
    refused = run(env, "shred", "plate:A123BC02", "--reason", "request 3", "--by", "dpo")
    assert isinstance(refused.exception, KuzetError) and plate in str(refused.exception)
    assert _subject(env, plate) == {"plate": "A 123 BC 02"}
    assert run(env, "release", plate, "--reason", "case closed").exit_code == 0
    done = run(env, "shred", "plate:A123BC02", "--reason", "request 3", "--by", "dpo")
    assert done.exit_code == 0 and "touching 1 incident(s)" in done.output, done.output
    assert _subject(env, plate) == {"plate": SHREDDED}
    again = run(env, "shred", "plate:A123BC02", "--reason", "request 3")
    assert again.exit_code == 0 and "nothing to shred" in again.output


def test_retention_dry_run_and_bad_input(env: dict[str, str], ids: dict[str, str]) -> None:
    dry = run(env, "retention", "--dry-run")
    assert dry.exit_code == 0 and "would shred 0 key(s)" in dry.output, dry.output
    assert isinstance(run(env, "shred", "W-1042", "--reason", "x").exception, InvalidErasure)
    assert isinstance(run(env, "hold", "fire-1", "--reason", "x").exception, KuzetError)
    short = run({**env, "KUZET_RETENTION_DAYS_PLATE": "0"}, "retention")
    assert "KUZET_RETENTION_DAYS_PLATE" in str(short.exception)
    if "KUZET_EVENT_STORE_URL" not in env:
        pepper = Path(env["KUZET_DATA_DIR"]) / "privacy-pepper"
        assert pepper.stat().st_mode & 0o777 == 0o600
