"""How every long-running `kuzet` command stops: SIGTERM and SIGINT mean the same thing.

On the first SIGTERM or SIGINT a process stops taking work, finishes or abandons its
in-flight work safely (offsets are committed only for work that is durable, so abandoned work
is redelivered), commits, and exits 0 within `STOP_BOUND_S`. A second signal while stopping
is ignored: the bound holds either way, and `kuzet up` kills a child's whole process group
when the bound has passed.

- asyncio commands (`projections run`, `relay`, `adapter webhook`) set an `asyncio.Event`
  from the loop's signal handlers (`stop_event`);
- blocking commands (`broker`, `up`, `demo --follow`) raise `Stopping` in the main thread
  (`raise_on_signals`), which unwinds through their `with` blocks;
- `worker` (Faust's `mode.Worker`) and `api` (uvicorn) install the same two handlers
  themselves; `kuzet worker` maps Faust's exit status to 0 for a requested stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["STOP_BOUND_S", "Stopping", "blocked_until_handled", "ignoring_signals",
           "log_warnings", "raise_on_signals", "stop_event"]

STOP_BOUND_S = 10.0
"""A process asked to stop exits within this many seconds (`kuzet up` escalates to SIGKILL of
the child's process group after it)."""

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopping(BaseException):
    """Raised in the main thread of a blocking command on SIGTERM or SIGINT."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def raise_on_signals() -> None:
    """From now on SIGTERM and SIGINT raise `Stopping` in the main thread."""
    def handler(signum: int, _frame: Any) -> None:
        raise Stopping(signum)

    for sig in SIGNALS:
        signal.signal(sig, handler)
    # `kuzet up` starts children with both signals blocked (`blocked_until_handled`): one
    # sent while the child was still starting is pending, and is delivered here
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def blocked_until_handled() -> None:
    """`preexec_fn` part for `kuzet` children: SIGTERM/SIGINT stay pending until the child's
    `raise_on_signals` is in place (a stop during interpreter start-up is not lost)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


@contextmanager
def ignoring_signals() -> Iterator[None]:
    """While a blocking command stops (within its bound), further signals are ignored."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_event() -> asyncio.Event:
    """An event the running loop sets on SIGTERM or SIGINT (call inside the loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    return stop


def log_warnings() -> None:
    """Supervisors (`broker`, `up`, `demo`) print their WARNING lines (a broker or child
    restart, an offset reset) with a time stamp on stderr."""
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
