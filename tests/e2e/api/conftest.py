"""Fixtures: API servers on a SQLite store per module, seeded with real incidents.

`server` reads `incidents` and the agency views from a real read model (SQLite) that the real
projection runner fills when a test calls `server.catch_up()`; `fold_server` has no read model
and folds the event store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kuzet.settings import CHAINED_SQLITE
from tests.e2e.api.harness import Server, open_incident, running_server


def _env(folder: Path) -> dict[str, str]:
    """The store as deployed: hash-chained, personal fields sealed (`kuzet.settings`)."""
    return {"PERSISTENCE_MODULE": CHAINED_SQLITE, "SQLITE_DBNAME": str(folder / "events.sqlite"),
            "PRIVACY_PEPPER": "e2e-api-pepper-0123456789"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("api")
    with running_server(_env(folder), read_model=str(folder / "views.sqlite"),
                        evidence_dir=folder / "evidence") as srv:
        yield srv


@pytest.fixture(scope="module")
def fold_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(_env(tmp_path_factory.mktemp("api-fold"))) as srv:
        yield srv


def seed(server: Server) -> dict[str, str]:
    """A police incident with a plate (personal data), a fire, and a ZhKKh one; the read
    model (if any) caught up."""
    ids = {
        "plate": str(open_incident(server.app, "plate_match",
                                   attributes={"plate": "A777AA02"},
                                   snapshot={"uri": "s3://snap/1.jpg", "sha256": "0" * 64})),
        "fire": str(open_incident(server.app, "fire", site="market-9")),
        "waste": str(open_incident(server.app, "garbage_overflow", site="yard-3")),
    }
    if server.read_model is not None:
        server.catch_up()
    return ids


@pytest.fixture(scope="module")
def seeded(server: Server) -> dict[str, str]:
    return seed(server)


@pytest.fixture(scope="module")
def fold_seeded(fold_server: Server) -> dict[str, str]:
    return seed(fold_server)
