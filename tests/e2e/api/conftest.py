"""Fixtures: one API server on a SQLite store per module, seeded with real incidents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.api.harness import Server, open_incident, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db: Path = tmp_path_factory.mktemp("api") / "events.sqlite"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)}
    with running_server(env) as srv:
        yield srv


@pytest.fixture(scope="module")
def seeded(server: Server) -> dict[str, str]:
    """A police incident with a plate (personal data), a fire, and a ZhKKh one."""
    return {
        "plate": str(open_incident(server.app, "plate_match",
                                   attributes={"plate": "A777AA02"},
                                   snapshot={"uri": "s3://snap/1.jpg", "sha256": "0" * 64})),
        "fire": str(open_incident(server.app, "fire", site="market-9")),
        "waste": str(open_incident(server.app, "garbage_overflow", site="yard-3")),
    }
