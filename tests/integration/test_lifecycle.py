"""Process lifecycle on real processes: SIGTERM/SIGINT stop cleanly, `kuzet up` leaves nothing.

`kuzet up` runs in a session of its own; the test collects every process of its tree and their
process groups while it runs, kills one child to see it reported and restarted, then sends
SIGTERM and checks that `up` exits 0, every child exited 0, no process of any of those groups
remains and every port is free again. Waits are on real signals: lines the processes print, a
port answering, a process gone.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuzet.broker import free_port, port_free
from kuzet.lifecycle import STOP_BOUND_S

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUZET_")}
    env.update({"KUZET_DATA_DIR": str(tmp_path / "data"),
                "KUZET_EMBEDDED_BROKER_PORT": str(free_port()),
                "KUZET_API_PORT": str(free_port()), "KUZET_TICK_INTERVAL_S": "0.5"}, **extra)
    return env


def _kuzet(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kuzet", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


class _Output:
    """A child's output, read line by line on a thread (so waiting on it can time out)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.lines = proc, queue.Queue[str]()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def until(self, needle: str, timeout: float = 90) -> str:
        """Wait for output holding `needle` (rich wraps long lines: whitespace is folded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.seen.append(self.lines.get(timeout=0.2))
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    pytest.fail(f"exited ({self.proc.returncode}) before {needle!r}:\n"
                                + "".join(self.seen))
                continue
            tail = " ".join("".join(self.seen[-4:]).split())
            if needle in tail:
                return tail
        pytest.fail(f"no {needle!r} within {timeout}s:\n{''.join(self.seen)}")

    def rest(self) -> str:
        self.proc.wait(timeout=STOP_BOUND_S + 10)
        time.sleep(0)  # the reader thread ends at EOF
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return " ".join("".join(self.seen).split())


def _tree(root: int) -> dict[int, int]:
    """pid -> process group of `root` and every descendant (from /proc)."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            groups[int(entry.name)] = int(fields[2])
    tree, frontier = {root: groups.get(root, root)}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree[child] = groups[child]
                frontier.append(child)
    return tree


def _alive_in_groups(groups: set[int]) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) in groups and stat[0] != "Z":
                alive.append(int(entry.name))
    return alive


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return dict(json.loads(response.read()))


def _stop(out: _Output, sig: int = signal.SIGTERM) -> tuple[int, str, float]:
    started = time.monotonic()
    out.proc.send_signal(sig)
    out.proc.wait(timeout=STOP_BOUND_S + 10)
    took = time.monotonic() - started
    assert out.proc.stdout is not None
    return out.proc.returncode, out.rest(), took


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    env = _env(tmp_path)
    proc = _kuzet(["up"], env)
    try:
        yield proc, env
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_up_reports_and_restarts_a_dead_child_and_sigterm_leaves_no_process(up) -> None:
    proc, env = up
    out = _Output(proc)
    out.until("Ctrl-C stops")
    tree = _tree(proc.pid)
    groups = set(tree.values())
    assert len(groups) >= 5, tree  # `up` (with the broker) and one group per child
    relay = next(p for p in tree if b"relay" in Path(f"/proc/{p}/cmdline").read_bytes())
    os.kill(relay, signal.SIGKILL)
    out.until("relay exited with status -9; restarting")
    line = out.until("relay restarted (pid")
    restarted = int(line.rsplit("relay restarted (pid ", 1)[1].split(",")[0])
    assert restarted != relay and restarted in _tree(proc.pid)
    ports = [int(env["KUZET_EMBEDDED_BROKER_PORT"]), int(env["KUZET_API_PORT"])]
    assert _get(f"http://127.0.0.1:{env['KUZET_API_PORT']}/healthz")
    groups |= set(_tree(proc.pid).values())

    code, text, took = _stop(out)

    assert code == 0, text
    assert took < STOP_BOUND_S + 5, took
    statuses = text.rsplit("stopped (exit status):", 1)[1].split(",")
    assert all(s.split()[1] == "0" for s in statuses), text  # every child stopped cleanly
    assert _alive_in_groups(groups) == [], "processes left behind"
    assert all(port_free(p) for p in ports)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_broker_stops_with_its_child_on_sigterm_and_sigint(tmp_path: Path, sig: int) -> None:
    env = _env(tmp_path, KUZET_HEALTH_PORT=str(free_port()))
    proc = _kuzet(["broker"], env)
    try:
        out = _Output(proc)
        out.until("Ctrl-C stops")
        ready = _get(f"http://127.0.0.1:{env['KUZET_HEALTH_PORT']}/readyz")
        os.kill(int(str(ready["broker_pid"])), signal.SIGKILL)  # the supervisor restarts it
        out.until("topics recreated")
        groups = set(_tree(proc.pid).values())
        code, text, _ = _stop(out, sig)
        assert code == 0, text
        assert _alive_in_groups(groups) == []
        assert port_free(int(env["KUZET_EMBEDDED_BROKER_PORT"]))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_demo_refuses_a_port_that_belongs_to_another_program(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        env = _env(tmp_path, KUZET_API_PORT=str(other.getsockname()[1]))
        done = subprocess.run([sys.executable, "-m", "kuzet", "demo"], env=env, text=True,
                              capture_output=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "demo OK" not in done.stdout
    assert "already in use by another program" in done.stderr + done.stdout
