"""`kuzet worker` records the activation of the rules it starts with (SQLite and PostgreSQL).

The worker runs for real through the CLI, pointed at a Kafka address where nothing listens
(connect timeout 1 s): the activation happens before the worker first talks to Kafka, so each
start records (or refuses) and then stops on the unreachable broker (its usual typed error,
exit status 1). Two starts with one file record one activation; a rollback to a version
activated earlier, after another, is a new activation; a changed text under an activated
version is refused before Kafka (`InvalidActivation`, named on the way out). Workers starting
together derive one activation id, so the slower save collides: checked on the real stores.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from typer.testing import CliRunner

from domain.application import IncidentApp
from domain.rule_versions import ACTIVATION_TOPIC, RuleActivation, activation_id, rules_digest
from kuzet.cli import app as kuzet_cli
from kuzet.settings import load_settings
from tests.helpers import default_rules

SHIPPED = resources.files("domain").joinpath("rules.toml").read_text()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgres"])
def worker_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {"KUZET_DATA_DIR": str(tmp_path), "KUZET_PRIVACY_PEPPER": "activation-pepper-0123",
           "KUZET_KAFKA_URL": f"127.0.0.1:{_closed_port()}", "KUZET_CONNECT_TIMEOUT_S": "1",
           "KUZET_RULES_AUTHOR": "duty-engineer", "KUZET_HEALTH_PORT": "0"}
    if request.param == "postgres":
        env["KUZET_EVENT_STORE_URL"] = request.getfixturevalue("postgres_url")
    return env


def _start(env: dict[str, str], rules: Path) -> Any:
    return CliRunner().invoke(kuzet_cli, ["worker"], env={**env, "KUZET_RULES_PATH": str(rules)})


def _activations(env: dict[str, str]) -> list[Any]:
    app = IncidentApp(load_settings(environ=env).event_store_env(), default_rules())
    try:
        return [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(
            start=1, limit=100, topics=[ACTIVATION_TOPIC])]
    finally:
        app.close()


def test_worker_records_its_rules_once(worker_env: dict[str, str], tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1.toml", tmp_path / "v2.toml"
    v1.write_text(SHIPPED)
    v2.write_text(SHIPPED.replace("version = 1\n", "version = 2\n", 1))
    first = _start(worker_env, v1)
    assert first.exit_code == 1  # after the activation, the unreachable broker, as always
    assert [(e.version, e.digest, e.author) for e in _activations(worker_env)] == [
        (1, rules_digest(SHIPPED), "duty-engineer")]
    assert _start(worker_env, v1).exit_code == 1
    assert len(_activations(worker_env)) == 1  # the same file again records nothing

    _start(worker_env, v2)
    _start(worker_env, v1)  # a rollback
    found = _activations(worker_env)
    assert [e.version for e in found] == [1, 2, 1]

    v1.write_text(SHIPPED.replace("min_hits = 3", "min_hits = 4", 1))
    refused = _start(worker_env, v1)
    assert refused.exit_code == 1
    assert "rules version 1 was activated with digest" in str(refused.exception)
    assert len(_activations(worker_env)) == 3

    # a worker that started together with the last one derives the same id: its save collides
    app = IncidentApp(load_settings(environ=worker_env).event_store_env(), default_rules())
    try:
        with pytest.raises(IntegrityError):
            app.save(RuleActivation.activate(
                version=1, digest=rules_digest(SHIPPED), author="twin", source=str(v1),
                at=datetime.now(UTC),
                ident=activation_id(1, rules_digest(SHIPPED), found[1].originator_id)))
    finally:
        app.close()
