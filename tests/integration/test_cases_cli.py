"""`kuzet incident merge|split` and `kuzet silence create|list|end` on a real chained SQLite
store, through the commands as `kuzet.cli` registers them; refusals are the CLI's one-line
`KuzetError` (printed with exit 2 by `kuzet.cli.main`)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from typer.testing import CliRunner

from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.incident import incident_id_for
from domain.kinds import Kind
from kuzet.cli import app as kuzet_cli
from kuzet.errors import KuzetError
from kuzet.settings import load_settings
from kuzet.wiring import load_rule_set
from tests.helpers import T0, det


def _app(env: dict[str, str]) -> IncidentApp:
    settings = load_settings(environ=env)
    return IncidentApp(settings.event_store_env(), load_rule_set(settings))


def test_merge_split_and_silences_from_a_terminal(tmp_path: Path) -> None:
    env = {"KUZET_DATA_DIR": str(tmp_path / "data"),
           "KUZET_PRIVACY_PEPPER": "cases-cli-pepper-0123456789"}
    app = _app(env)
    ids = []
    for cam in ("cam-1", "cam-2"):
        key = f"fight:source={cam}"
        dets = tuple(det("fight", source=cam, conf=0.9, seconds=i) for i in range(2))
        app.open_incident(OpenIncident(key, Kind.FIGHT, 0, incident_id_for(key, 0), dets,
                                       None, T0), T0)
        ids.append(str(incident_id_for(key, 0)))
    app.close()
    run = CliRunner().invoke
    done = run(kuzet_cli, ["incident", "merge", ids[0], ids[1], "--reason", "same fight"],
               env=env)
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"merged: {ids[0]} OPEN") and f"{ids[1]} MERGED" in done.output
    again = run(kuzet_cli, ["incident", "merge", ids[0], ids[1]], env=env)
    assert isinstance(again.exception, KuzetError) and "MERGED" in str(again.exception)
    app = _app(env)
    one = sorted(app.incident(UUID(ids[0])).evidence_ids)[0]
    app.close()
    split = run(kuzet_cli, ["incident", "split", ids[0], one], env=env)
    assert split.exit_code == 0 and "(3 detections)" in split.output, split.output
    made = run(kuzet_cli, ["silence", "create", "camera", "cam-9", "--reason", "new mast",
                           "--minutes", "30"], env=env)
    assert made.exit_code == 0 and "camera=cam-9 active" in made.output, made.output
    listed = run(kuzet_cli, ["silence", "list"], env=env)
    assert "camera=cam-9 active" in listed.output
    until = run(kuzet_cli, ["silence", "create", "site", "yard-3", "--reason", "works",
                            "--until", "2999-01-01T10:00:00+05:00"], env=env)
    assert isinstance(until.exception, KuzetError) and "31 days" in str(until.exception)
    naive = run(kuzet_cli, ["silence", "create", "site", "yard-3", "--reason", "works",
                            "--until", "2999-01-01T10:00:00"], env=env)
    assert isinstance(naive.exception, KuzetError) and "offset" in str(naive.exception)
    bad = run(kuzet_cli, ["silence", "create", "street", "x", "--reason", "r"], env=env)
    assert isinstance(bad.exception, KuzetError) and "scope" in str(bad.exception)
    sid = made.output.split()[0]
    ended = run(kuzet_cli, ["silence", "end", sid, "--reason", "done"], env=env)
    assert "ended" in ended.output
    twice = run(kuzet_cli, ["silence", "end", sid], env=env)
    assert isinstance(twice.exception, KuzetError) and "already ended" in str(twice.exception)
    assert "no silences" in run(kuzet_cli, ["silence", "list"], env=env).output
