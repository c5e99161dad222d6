"""Structured logs (`kuzet.logs`): stdlib records rendered by structlog, console or JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from kuzet.logs import configure_logging
from kuzet.settings import SettingsError, load_settings
from streams.consumer import failure_letter


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(out: io.StringIO) -> list[str]:
    return [line for line in out.getvalue().splitlines() if line]


def test_json_mode_writes_one_object_per_line_with_the_extra_ids(stream: io.StringIO) -> None:
    configure_logging("json", "warn", stream=stream)
    logging.getLogger("kuzet.test").warning(
        "incident %s escalated", "inc-1",
        extra={"incident_id": "inc-1", "detection_id": "det-9", "partition": 3, "offset": 41})
    logging.getLogger("kuzet.test").info("below the level: not written")
    (line,) = _lines(stream)
    entry = json.loads(line)
    assert entry["event"] == "incident inc-1 escalated"
    assert entry["level"] == "warning"
    assert entry["logger"] == "kuzet.test"
    assert entry["timestamp"].endswith("Z")
    assert (entry["incident_id"], entry["detection_id"], entry["partition"],
            entry["offset"]) == ("inc-1", "det-9", 3, 41)


def test_json_mode_keeps_the_traceback_inside_the_object(stream: io.StringIO) -> None:
    configure_logging("json", "warn", stream=stream)
    try:
        raise ValueError("broken record")
    except ValueError:
        logging.getLogger("kuzet.test").exception("handler failed")
    (line,) = _lines(stream)
    assert "ValueError: broken record" in json.loads(line)["exception"]


def test_a_dead_letter_log_carries_its_partition_and_offset(stream: io.StringIO) -> None:
    configure_logging("json", "warn", stream=stream)
    failure_letter(b"{}", RuntimeError("boom"),
                   {"topic": "kuzet.detections.v1", "partition": 2, "offset": 17},
                   stage="route")
    entries = [json.loads(line) for line in _lines(stream)]
    (entry,) = [e for e in entries if "dead-lettering" in e["event"]]
    assert (entry["topic"], entry["partition"], entry["offset"]) == (
        "kuzet.detections.v1", 2, 17)


def test_console_mode_is_readable_and_configuring_twice_keeps_one_handler(
        stream: io.StringIO) -> None:
    configure_logging("json", "warn", stream=io.StringIO())
    configure_logging("console", "info", stream=stream)
    logging.getLogger("kuzet.test").info("relay caught up", extra={"partition": 1})
    (line,) = _lines(stream)
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert "relay caught up" in line and "partition=1" in line and "kuzet.test" in line


def test_an_unknown_log_format_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="KUZET_LOG_FORMAT='xml'"):
        load_settings(environ={"KUZET_LOG_FORMAT": "xml"})
    assert load_settings(environ={"KUZET_LOG_FORMAT": "json"}).log_format == "json"


def test_without_a_stream_it_writes_to_the_current_stderr(
        stream: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    """In-process commands (click's CliRunner) swap sys.stderr: the handler follows it."""
    configure_logging("json", "warn")
    logging.getLogger("kuzet.test").warning("to whichever stderr is current")
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x]
    assert json.loads(line)["event"] == "to whichever stderr is current"


def test_the_root_option_does_not_hide_a_long_running_command() -> None:
    """`kuzet --log-format json worker` still stops on SIGTERM with status 0 (kuzet.cli)."""
    from kuzet.cli import _long_running

    assert _long_running(["kuzet", "--log-format", "json", "worker"])
    assert _long_running(["kuzet", "--log-format=json", "projections", "run"])
    assert not _long_running(["kuzet", "--log-format", "json", "publish"])
