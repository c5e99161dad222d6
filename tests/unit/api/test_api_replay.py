"""Replay turns and caps (pure asyncio, milliseconds)."""

from __future__ import annotations

import asyncio

import pytest

from api.auth import Principal, Role
from api.caps import Caps
from api.config import ApiConfig
from api.errors import TooMany
from api.replay import Turnstile
from tests.helpers import default_rules


async def test_turnstile_bounds_holders_and_a_held_turn_ends_with_its_lease() -> None:
    gate = Turnstile(2, lease_s=0.05)
    first, _second = await gate.enter(), await gate.enter()
    third = asyncio.ensure_future(gate.enter())
    await asyncio.sleep(0.01)
    assert not third.done()  # two holders: the third waits
    first()
    first()  # idempotent: releasing twice frees one turn only
    release = await asyncio.wait_for(third, 1)
    fourth = asyncio.ensure_future(gate.enter())
    await asyncio.sleep(0.01)
    assert not fourth.done()
    await asyncio.wait_for(fourth, 1)  # a stuck holder's lease ends: the turn passes on
    release()


def test_caps_count_and_give_back() -> None:
    config = ApiConfig({}, default_rules(), "x" * 16, max_ws_per_principal=1,
                       max_ws_per_address=2, max_subscriptions_per_principal=1)
    caps = Caps(config)
    who = Principal("u", Role.ZHKKH, "zhkkh", expires_at=0)
    assert caps.take_address("a") and caps.take_address("a") and not caps.take_address("a")
    caps.give_address("a")
    assert caps.take_address("a")
    caps.take_principal(who)
    with pytest.raises(TooMany, match="too many connections"):
        caps.take_principal(who)
    caps.give_principal(who)
    caps.take_principal(who)
    with caps.subscription(who), pytest.raises(TooMany, match="too many subscriptions"), \
            caps.subscription(who):
        pass
    assert not caps.subscriptions
