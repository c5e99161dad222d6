"""The security tier: the attacks of issue 12 as regression tests over real HTTP and
WebSocket, plus a GraphQL document fuzzer. Every test here carries the `security` marker
(`pytest -m security` runs the tier alone); it runs with the rest by default.

Servers are the e2e harness's (uvicorn in a thread on a real chained SQLite store); modules
that need other limits start their own with `running_server(..., **ApiConfig overrides)`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.api.conftest import fold_seeded, fold_server, seeded, server  # noqa: F401

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.security)
