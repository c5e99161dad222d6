"""Rule versions and backtests on a recorded scenario (SQLite store and archive, the CLI).

Two sites record fire: three detections within 30 s at one (an incident under the shipped
rules, min_hits 3), six at the other. A candidate raising fire's min_hits to 5 loses the first
incident and keeps the second, opened 10 s later (two more hits 5 s apart): a change. Activation
records RulesActivated and refuses another text under a version already activated."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from typer.testing import CliRunner

from archive.ingest import Archiver
from archive.store import open_archive
from domain.application import IncidentApp
from domain.incident import incident_id_for
from domain.rule_versions import ACTIVATION_TOPIC
from eventstore.sealing import Sealer
from kuzet.cli import app as kuzet_cli
from kuzet.settings import load_settings
from tests.helpers import default_rules

PEPPER = "backtest-pepper-0123456789"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


def _fire(n: int, at: datetime, site: str = "school-12") -> bytes:
    return json.dumps({"detection_id": str(uuid.UUID(int=n)), "source_id": f"cam-{site}",
                       "source_kind": "camera", "kind": "fire", "confidence": 0.95,
                       "site_id": site, "observed_at": at.isoformat()}).encode()


def test_activate_and_backtest(tmp_path: Path) -> None:
    env = {"KUZET_DATA_DIR": str(tmp_path), "KUZET_PRIVACY_PEPPER": PEPPER}
    settings = load_settings(environ=env)
    app = IncidentApp(settings.event_store_env(), default_rules())
    store = open_archive(settings.archive_location)
    first = [_fire(i, T0 + timedelta(seconds=5 * i)) for i in range(3)]
    second = [_fire(10 + i, T0 + timedelta(hours=1, seconds=5 * i), "market-3")
              for i in range(6)]
    Archiver(store, Sealer(app.factory.keystore), PEPPER.encode()).take(  # type: ignore[attr-defined]
        [*first, *second, _fire(99, T0 + timedelta(days=2))])  # the last: outside the period
    store.close()
    app.close()

    shipped = resources.files("domain").joinpath("rules.toml").read_text()
    candidate = shipped.replace("version = 1\n", "version = 2\n", 1).replace(
        "min_hits = 3\nwindow_s = 30\nseverity = \"critical\"",
        "min_hits = 5\nwindow_s = 30\nseverity = \"critical\"", 1)
    assert candidate.count("min_hits = 5") == 1
    (tmp_path / "candidate.toml").write_text(candidate)
    runner = CliRunner()
    result = runner.invoke(kuzet_cli, [
        "rules", "backtest", "--rules", str(tmp_path / "candidate.toml"),
        "--from", (T0 - timedelta(minutes=1)).isoformat(),
        "--to", (T0 + timedelta(hours=2)).isoformat(), "--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    fire = out["kinds"]["fire"]
    assert out["figures"]["detections"] == 9 and out["versions"] == [1, 2]
    assert (fire["active"], fire["candidate"], fire["lost"], fire["gained"],
            fire["changed"]) == (2, 1, 1, 0, 1)
    lost_id = str(incident_id_for("fire:site=school-12", 0))
    assert fire["examples"]["lost"] == [lost_id]
    assert fire["median_time_to_open_delta_s"] == 10.0  # 5th hit instead of the 3rd, 5 s apart
    text = runner.invoke(kuzet_cli, [
        "rules", "backtest", "--rules", str(tmp_path / "candidate.toml"),
        "--from", T0.isoformat(), "--to", (T0 + timedelta(hours=2)).isoformat()], env=env)
    assert "lost 1" in text.output and lost_id in text.output

    assert runner.invoke(kuzet_cli, ["rules", "activate", "--by", "chief"], env=env
                         ).exit_code == 0
    assert runner.invoke(kuzet_cli, ["rules", "activate", str(tmp_path / "candidate.toml"),
                                     "--by", "chief"], env=env).exit_code == 0
    (tmp_path / "sneaky.toml").write_text(candidate.replace("min_hits = 5", "min_hits = 6"))
    refused = runner.invoke(kuzet_cli, ["rules", "activate", str(tmp_path / "sneaky.toml")],
                            env=env)
    assert refused.exit_code != 0 and "version 2 was activated" in str(refused.exception)
    app = IncidentApp(settings.event_store_env(), default_rules())
    try:
        found = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(
            start=1, limit=100, topics=[ACTIVATION_TOPIC])]
    finally:
        app.close()
    assert [(e.version, e.author) for e in found] == [(1, "chief"), (2, "chief")]
