"""`kuzet incident ...`: the whole lifecycle from a terminal (close and a supervisor's escalate
included), on real chained stores (SQLite and PostgreSQL), through the commands as `kuzet.cli`
registers them; refusals raise the CLI's one-line `KuzetError` (which `kuzet.cli.main` prints
and exits 2 with: tests/unit/test_cli_errors.py)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.incident import incident_id_for
from domain.kinds import Kind, Status
from kuzet.cli import app as kuzet_cli
from kuzet.errors import KuzetError
from kuzet.settings import load_settings
from kuzet.wiring import load_rule_set
from tests.helpers import T0, det


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    out = {"KUZET_DATA_DIR": str(tmp_path / "data"),
           "KUZET_PRIVACY_PEPPER": "incident-cli-pepper-0123456789"}
    if request.param == "postgres":
        out["KUZET_EVENT_STORE_URL"] = request.getfixturevalue("postgres_url")
    return out


@pytest.fixture
def incident_id(env: dict[str, str]) -> str:
    settings = load_settings(environ=env)
    app = IncidentApp(settings.event_store_env(), load_rule_set(settings))
    key = "fight:source=cam-7"
    dets = tuple(det("fight", source="cam-7", conf=0.9, seconds=i) for i in range(2))
    app.open_incident(OpenIncident(key, Kind.FIGHT, 0, incident_id_for(key, 0), dets, None,
                                   T0), T0)
    app.close()
    return str(incident_id_for(key, 0))


def _kuzet(cli: typer.Typer, env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, ["incident", *args], env=env)


def _incident(env: dict[str, str], incident_id: str):  # type: ignore[no-untyped-def]
    settings = load_settings(environ=env)
    app = IncidentApp(settings.event_store_env(), load_rule_set(settings))
    try:
        return app.incident(UUID(incident_id))
    finally:
        app.close()


def test_the_lifecycle_from_a_terminal(env: dict[str, str], incident_id: str) -> None:
    steps = [("ack",), ("escalate", "--reason", "crowd gathering"),
             ("dispatch", "--unit", "patrol-12"), ("note", "crew arrived"),
             ("resolve", "--resolution", "separated"), ("close",)]
    for step in steps:
        result = _kuzet(kuzet_cli, env, step[0], incident_id, *step[1:], "--by", "sup-1")
        assert result.exit_code == 0, (step, result.output)
    done = _incident(env, incident_id)
    assert done.status is Status.CLOSED and done.level == 1 and done.notes == 1
    assert "CLOSED level 1" in result.output


def _refused(env: dict[str, str], *args: str) -> str:
    result = _kuzet(kuzet_cli, env, *args)
    assert isinstance(result.exception, KuzetError), result.output
    return str(result.exception)


def test_refusals_are_one_line(env: dict[str, str], incident_id: str) -> None:
    assert _refused(env, "close", incident_id) == \
        f"cannot close incident {incident_id}: it is OPEN"
    assert "version" in _refused(env, "ack", incident_id, "--expected-version", "7")
    assert "not an incident id" in _refused(env, "ack", "not-an-id")
    assert "0b9f4c6e" in _refused(env, "ack", "0b9f4c6e-36a2-4a3e-9d0c-52b1a7a0e6d1")
    assert _incident(env, incident_id).status is Status.OPEN
