"""Process logs: stdlib `logging` records rendered by structlog, readable or one JSON per line.

Every package logs with `logging.getLogger(__name__)`; the composition root calls
`configure_logging` once (the `kuzet` callback, `--log-format` / `KUZET_LOG_FORMAT`). A root
handler with structlog's `ProcessorFormatter` renders each record:

- `console`: `2026-12-03T09:30:00.123Z [warning  ] relay: message [kuzet.relay] partition=3`
- `json`: `{"timestamp": "...", "level": "warning", "logger": "kuzet.relay", "event": "...",
  "incident_id": "..."}` — one object per line, for Loki / Elasticsearch / journald.

Fields passed as `log.warning(..., extra={"incident_id": ...})` come out as keys of their own.
In json mode uvicorn is started without its own logging config (`uvicorn_log_config`), so its
error and access lines propagate to the root handler and come out as JSON too; the Faust
worker's handler is replaced in json mode (`reinstall`). In console mode uvicorn keeps its
own format.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

__all__ = ["FORMATS", "configure_logging", "current_format", "formatter", "reinstall",
           "uvicorn_log_config"]

FORMATS = ("console", "json")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}


class _KuzetHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler `configure_logging` installs (recognised so a second call replaces it).

    Without an explicit stream it writes to whatever `sys.stderr` is at each record, so a
    command run in-process (click's CliRunner swaps stderr) never leaves it a closed stream.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed = value


_current: dict[str, Any] = {}


def level_of(name: str) -> int:
    """`warn`, `info`… (KUZET_LOG_LEVEL) as a logging level; unknown names mean WARNING."""
    return _LEVELS.get(name.strip().lower(), logging.WARNING)


def formatter(fmt: str) -> structlog.stdlib.ProcessorFormatter:
    """A formatter rendering stdlib records as `fmt` (`console` or `json`)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: console or json")
    pre_chain: list[Any] = [
        structlog.contextvars.merge_contextvars,  # ids a hop bound (partition…)
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    tail: list[Any] = [structlog.processors.format_exc_info] if fmt == "json" else []
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail,
                    renderer],
    )


def configure_logging(fmt: str = "console", level: str = "warn",
                      stream: TextIO | None = None) -> logging.Handler:
    """Route every stdlib record through structlog on `stream` (default stderr); idempotent."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _KuzetHandler)]:
        root.removeHandler(old)
    handler = _KuzetHandler(stream)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level_of(level))
    _current.update(format=fmt, handler=handler)
    return handler


def reinstall(root: logging.Logger) -> None:
    """In json mode, put Kuzet's handler back after a framework replaced the root handlers
    (Faust/mode's worker clears them for its coloured console handler)."""
    handler = _current.get("handler")
    if _current.get("format") == "json" and handler is not None:
        root.handlers[:] = [handler]


def uvicorn_log_config() -> dict[str, Any] | None:
    """`log_config` for `uvicorn.run`: None in json mode (uvicorn installs no handler of its
    own, its loggers propagate to Kuzet's root handler), uvicorn's default otherwise."""
    if _current.get("format") == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG


def current_format() -> str:
    """The format `configure_logging` last installed (`console` before any call): what child
    processes are told (KUZET_LOG_FORMAT)."""
    return str(_current.get("format", "console"))
