"""The CLI's promise: a known failure prints one line (no traceback) and exits with status 2."""

from __future__ import annotations

import subprocess
import sys


def _kuzet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kuzet.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env, check=False)


def test_a_usage_error_is_a_message_not_a_traceback() -> None:
    done = _kuzet("incidents", "--no-such-option")
    assert done.returncode == 2
    assert "No such option" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_bad_setting_is_one_line() -> None:
    import os

    env = {**os.environ, "KUZET_EVENT_STORE_URL": "mysql://nope"}
    done = _kuzet("incidents", env=env)
    assert done.returncode == 2
    assert "KUZET_EVENT_STORE_URL" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
