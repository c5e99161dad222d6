"""Extra processes `kuzet up` / `kuzet demo` run beside the workers.

Each area appends one entry to `PROCESSES`: (name, argv for `kuzet`, a line for the operator).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROCESSES", "start"]

PROCESSES: list[tuple[str, list[str], str]] = [
    ("projections", ["projections", "run"], "read models following the event store"),
    ("relay", ["relay"], "incident events to kuzet.incident-events.v1 and agency topics"),
    ("api", ["api"], "GraphQL API, live subscriptions and the operator console"),
    ("cameras", ["cameras", "watch"], "camera health: silent cameras become incidents"),
    ("archive", ["archive", "run"], "every detection into the searchable archive"),
]


def start(stack: Any, console: Any) -> None:
    from kuzet.commands.api import announce, with_dev_secret

    with_dev_secret(stack)  # before spawning: children get the secret through their env
    for name, argv, line in PROCESSES:
        stack.spawn(name, argv)
        console.print(f"started {name}: {line}")
    announce(stack, console)
