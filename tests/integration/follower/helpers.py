"""Shared by the standby tests and `bench/standby.py`: a store filled with incident events,
`kuzet` followers started as real processes, and waits on real signals (the lease holder in
`pg_locks`, positions in `kuzet_positions` and `proj_tracking`, a process's log line)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.application import IncidentApp
from domain.incident import Incident

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
KINDS = ["fire", "face_match", "garbage_overflow", "crowd", "plate_match", "road_defect"]


def fill(app: IncidentApp, n: int, first: int = 0) -> int:
    """`n` incidents of five events each (opened with a plate where the kind has one, evidence,
    acknowledged, assigned, resolved); returns the log head."""
    for i in range(first, first + n):
        t = T0 + timedelta(seconds=i)
        kind = KINDS[i % len(KINDS)]
        inc = Incident(incident_key=f"{kind}:standby-{i}", episode=0, kind=kind, severity=2,
                       site_id=f"site-{i % 50}", location=None, source_ids=[f"cam-{i % 300}"],
                       detection_ids=[f"d-{i}-0"], first_seen_at=t, last_seen_at=t,
                       sla_due_at=t + timedelta(minutes=5),
                       agencies=["situation_centre", "police"] if i % 3 == 0 else
                       ["situation_centre"],
                       subject={"plate": f"P{i}"} if kind == "plate_match" else {},
                       linked_to=None, rule="rule:bench@1", actor="rule:bench@1", timestamp=t,
                       snapshots=[])
        inc.add_evidence(detection_ids=[f"d-{i}-1"], source_ids=["cam-x"], count=1,
                         first_seen_at=t, last_seen_at=t, max_confidence=0.9, snapshots=[],
                         suppressed=False, actor="rule:bench@1", at=t)
        inc.acknowledge(actor="operator:o", at=t)
        inc.assign(assignee="o", actor="operator:o", at=t)
        inc.resolve(resolution="ok", actor="operator:o", at=t + timedelta(minutes=3))
        app.save(inc)
    return int(app.recorder.max_notification_id() or 0)


def spawn(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`python -m kuzet <args>` with `env` added to this environment, logging to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "kuzet", *args],
                                env={**os.environ, **env}, stdout=out, stderr=out)


def wait(done: Callable[[], bool], what: str, *, timeout_s: float = 60,
         alive: tuple[subprocess.Popen[bytes], ...] = (), every_s: float = 0.05) -> float:
    """Poll `done()` until it holds; returns when it did (monotonic). Fails naming `what`, or
    at once when a process in `alive` exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return time.monotonic()
        for proc in alive:
            if proc.poll() is not None:
                raise AssertionError(f"waiting for {what}: pid {proc.pid} exited "
                                     f"{proc.returncode}")
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


def holder_pid(holder: str | None) -> int | None:
    """The process id in a lease holder's name (`kuzet-lease relay pid=123 host=...`)."""
    if holder is None:
        return None
    return next((int(p[4:]) for p in holder.split() if p.startswith("pid=")), None)


def logged(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


def kill9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def terminate(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)
