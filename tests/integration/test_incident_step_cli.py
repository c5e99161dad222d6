"""`kuzet incident step|verify|reject-verification|close --override` from a terminal, on a real
chained SQLite store, with procedures loaded as `kuzet` loads them (KUZET_PROCEDURES_PATH):
the checklist, two-person verification and their one-line refusals."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from typer.testing import CliRunner

from domain.correlation import OpenIncident
from domain.incident import Incident, incident_id_for
from domain.kinds import Kind, Status
from kuzet.cli import app as kuzet_cli
from kuzet.errors import KuzetError
from kuzet.settings import load_settings
from kuzet.wiring import open_incident_app
from tests.helpers import T0, det

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "procedures.toml"


def _env(tmp_path: Path) -> dict[str, str]:
    return {"KUZET_DATA_DIR": str(tmp_path / "data"), "KUZET_PROCEDURES_PATH": str(EXAMPLE),
            "KUZET_PRIVACY_PEPPER": "step-cli-pepper-0123456789"}


def _open(env: dict[str, str], kind: Kind) -> str:
    app = open_incident_app(load_settings(environ=env))
    key = f"{kind.value}:source=cam-9"
    dets = tuple(det(kind.value, source="cam-9", conf=0.95, seconds=i) for i in range(3))
    app.open_incident(OpenIncident(key, kind, 0, incident_id_for(key, 0), dets, None, T0), T0)
    app.close()
    return str(incident_id_for(key, 0))


def _stored(env: dict[str, str], incident_id: str) -> Incident:
    app = open_incident_app(load_settings(environ=env))
    try:
        return app.incident(UUID(incident_id))
    finally:
        app.close()


def _kuzet(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(kuzet_cli, ["incident", *args], env=env)
    if isinstance(result.exception, KuzetError):
        return f"refused: {result.exception}"
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def test_checklist_and_two_person_verification_from_a_terminal(tmp_path: Path) -> None:
    env = _env(tmp_path)
    fight = _open(env, Kind.FIGHT)  # a two-person kind in the example set, no procedure
    assert "procedure none" in _kuzet(env, "step", "list", fight)
    _kuzet(env, "ack", fight, "--by", "alice")
    assert "needs a second operator" in _kuzet(env, "dispatch", fight, "--unit", "p-1",
                                               "--by", "alice")
    assert "another operator must verify" in _kuzet(env, "verify", fight, "--by", "alice")
    _kuzet(env, "verify", fight, "--by", "bob")
    assert "DISPATCHED" in _kuzet(env, "dispatch", fight, "--unit", "p-1", "--by", "alice")

    weapon = _open(env, Kind.WEAPON)
    listed = _kuzet(env, "step", "list", weapon)
    assert "procedure weapon@2" in listed and "verify_on_camera mandatory" in listed
    _kuzet(env, "step", "done", weapon, "verify_on_camera", "--by", "alice")
    assert "reason" in _kuzet(env, "step", "skip", weapon, "call_police", "--reason", "",
                              "--by", "alice")
    _kuzet(env, "ack", weapon, "--by", "alice")
    _kuzet(env, "reject-verification", weapon, "--reason", "a toy", "--by", "bob")
    assert "call_police" in _kuzet(env, "close", weapon, "--by", "sue")
    assert "CLOSED" in _kuzet(env, "close", weapon, "--by", "sue", "--override", "toy gun")
    stored = _stored(env, weapon)
    assert stored.status is Status.CLOSED and stored.procedure_override == "toy gun"
    assert "done by operator:alice" in _kuzet(env, "step", "list", weapon)
