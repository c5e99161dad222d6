"""One process per adapter name: a second adapter on the same state store is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.errors import AdapterBusy
from adapters.state import AdapterState
from adapters.state_postgres import PostgresState
from adapters.state_sqlite import SqliteState


async def _twin(state: AdapterState, request: pytest.FixtureRequest,
                tmp_path: Path) -> AdapterState:
    """A second handle on the same store, as a second process would open it."""
    if isinstance(state, SqliteState):
        return SqliteState(tmp_path / "adapters.sqlite")
    return await PostgresState.connect(request.getfixturevalue("postgres_url"))


async def test_a_second_adapter_of_the_same_name_is_refused_until_the_first_ends(
        state: AdapterState, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    twin = await _twin(state, request, tmp_path)
    try:
        await state.claim("police-webhook")
        with pytest.raises(AdapterBusy, match="police-webhook"):
            await twin.claim("police-webhook")
        await twin.claim("zhkkh-webhook")  # other names are independent
        await state.close()
        await twin.claim("police-webhook")  # the first one ended: its claim went with it
    finally:
        await twin.close()


async def test_a_claim_lost_under_a_running_adapter_is_noticed(
        state: AdapterState, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from adapters.errors import ClaimLost

    with pytest.raises(ClaimLost):
        await state.check_claim("police-webhook")  # never claimed
    await state.claim("police-webhook")
    await state.check_claim("police-webhook")
    if not isinstance(state, PostgresState):
        return  # a flock lasts as long as its descriptor: it cannot be lost under us
    import asyncpg

    pid = state._claims["police-webhook"].get_server_pid()
    admin = await asyncpg.connect(request.getfixturevalue("postgres_url"))
    try:  # the DBA (or a failover) ends the adapter's session
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    with pytest.raises(ClaimLost, match="lost its claim"):
        await state.check_claim("police-webhook")
    twin = await _twin(state, request, tmp_path)
    try:
        await twin.claim("police-webhook")  # the lock went with the session
    finally:
        await twin.close()
