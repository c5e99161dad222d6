"""`kuzet audit ...` end to end on real chained stores (SQLite and PostgreSQL), through the
commands exactly as `kuzet.cli` registers them, with settings from the environment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from domain.application import IncidentApp
from kuzet.commands import audit, privacy
from kuzet.errors import KuzetError
from kuzet.settings import load_settings
from tests.integration.audit.conftest import Tamper
from tests.integration.audit.test_asof import act_after_snapshot, snapshot
from tests.integration.audit.test_tamper import _edit_state_byte
from tests.integration.projections.scenario import RULES, build

pytestmark = pytest.mark.postgres
SITES = Path(__file__).parents[3] / "examples" / "sites.toml"


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    audit.register(app)
    privacy.register(app)
    return app


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Settings for a store the scenario filled: the default SQLite file, or PostgreSQL; with
    a pepper, so personal fields are sealed as in production."""
    out = {"KUZET_DATA_DIR": str(tmp_path / "data"), "KUZET_SITES_PATH": str(SITES),
           "KUZET_PRIVACY_PEPPER": "audit-test-pepper-0123456789"}
    if request.param == "postgres":
        out["KUZET_EVENT_STORE_URL"] = request.getfixturevalue("postgres_url")
    return out


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[IncidentApp]:
    application = IncidentApp(load_settings(environ=env).event_store_env(), RULES)
    asyncio.run(build(application))
    yield application
    application.close()


def run(cli: typer.Typer, env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, ["audit", *args], env=env)


def test_verify_anchor_and_tamper(cli, env, app: IncidentApp, tmp_path: Path) -> None:
    head = app.recorder.max_notification_id()
    ok = run(cli, env, "verify")
    assert ok.exit_code == 0, ok.output
    assert f"checked {head} events" in ok.output and f"intact up to position {head}" in ok.output
    anchors = tmp_path / "anchors.jsonl"
    for _ in range(2):
        assert run(cli, env, "anchor", "--file", str(anchors)).exit_code == 0
    assert [json.loads(x)["position"] for x in anchors.read_text().splitlines()] == [head, head]
    proven = run(cli, env, "verify", "--anchors", str(anchors))
    assert proven.exit_code == 0 and "anchors proven: 2" in proven.output
    tamper = Tamper(load_settings(environ=env).event_store_env(), app)
    _edit_state_byte(tamper)  # at position 10
    tamper.close()
    broken = run(cli, env, "verify", "--anchors", str(anchors))
    assert broken.exit_code == 1
    assert "BROKEN: edited at position 10" in " ".join(broken.output.split())


def test_export_then_replay_reproduces_the_live_digests_even_after_a_shred(
        cli, env, app: IncidentApp, tmp_path: Path) -> None:
    out = tmp_path / "export.jsonl"
    done = run(cli, env, "export", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert "W-1042" not in out.read_text()  # sealed in the store, sealed in the export
    replayed = run(cli, env, "replay", str(out))
    assert replayed.exit_code == 0, replayed.output
    assert replayed.output.count("equal") == 4
    shred = CliRunner().invoke(cli, ["privacy", "shred", "face:W-1042", "--reason", "test",
                                     "--by", "auditor"], env=env)
    assert shred.exit_code == 0, shred.output
    assert run(cli, env, "verify").exit_code == 0  # the chain hashed ciphertext: unaffected
    again = run(cli, env, "replay", str(out))
    assert again.exit_code == 0 and again.output.count("equal") == 4, again.output
    lines = out.read_text().splitlines()
    out.write_text("\n".join([*lines[:5], *lines[6:]]) + "\n")  # one event line removed
    broken = run(cli, env, "replay", str(out))
    assert broken.exit_code == 1 and "export BROKEN" in broken.output


def test_board_at_t_equals_the_board_seen_at_t(cli, env, app: IncidentApp,
                                               tmp_path: Path) -> None:
    then, at, position = snapshot(app, tmp_path / "views.sqlite")
    act_after_snapshot(app)
    shown = run(cli, env, "board", "--at", at.isoformat(), "--json")
    assert shown.exit_code == 0, shown.output
    got = json.loads(shown.output)
    assert got["position"] == position
    assert got["rows"] == [then["board"][k] for k in sorted(then["board"])]
    police = json.loads(run(cli, env, "board", "--at", at.isoformat(), "--view", "police",
                            "--json").output)
    assert police["rows"] == [then["police"][k] for k in sorted(then["police"])]
    table = run(cli, env, "board", "--at", at.isoformat())
    assert table.exit_code == 0 and f"position {position}" in table.output


@pytest.mark.parametrize(("args", "message"), [
    (["board", "--at", "2026-11-26T10:00:00"], "UTC offset"),
    (["board", "--at", "2026-11-26T10:00:00Z", "--view", "nope"], "unknown view"),
    (["export", "--out", "x.jsonl", "--incident", "fire-1"], "not an incident id"),
    (["verify", "--anchors", "{anchors}"], "not an anchor"),
])
def test_bad_input_is_a_one_line_error(cli, env, app: IncidentApp, tmp_path: Path, args,
                                       message) -> None:
    bad = tmp_path / "bad-anchors.jsonl"
    bad.write_text("not json\n")
    result = run(cli, env, *(a.replace("{anchors}", str(bad)) for a in args))
    assert isinstance(result.exception, KuzetError), result.output
    assert message in str(result.exception)
