"""`api.views.judge`: when a read model may be served as current (pure; the same rules run
over HTTP against real stores and a real runner in tests/e2e/api/test_honest_reads.py)."""

from __future__ import annotations

import pytest

from api.views import judge
from projections.store import Freshness

LIMITS = {"max_lag": 100, "max_staleness_s": 15.0}


@pytest.mark.parametrize("fresh", [Freshness(50, None, False), Freshness(50, 999.0, True),
                                   Freshness(50, 1.0, False), Freshness(0, None, False)])
def test_a_view_at_the_head_is_current_whoever_keeps_it(fresh: Freshness) -> None:
    assert judge("board", fresh, fresh.position or 0, **LIMITS) is None


def test_a_little_behind_with_a_live_runner_is_served() -> None:
    assert judge("board", Freshness(40, 2.0, False), 50, **LIMITS) is None


@pytest.mark.parametrize(("fresh", "head", "why"), [
    (Freshness(None, None, False), 0, "has not been set up"),
    (Freshness(None, 1.0, False), 10, "has not been set up"),
    (Freshness(0, None, False), 3, "has not been built yet"),
    (Freshness(7, None, False), 9, "no projections process has ever reported"),
    (Freshness(40, 3.0, True), 50, "projections process stopped 3 s ago"),
    (Freshness(40, 16.0, False), 50, "last reported 16 s ago"),
    (Freshness(40, 1.0, False), 141, "lagging by more than 100 positions"),
    (Freshness(60, 1.0, False), 50, "ahead of the event store (50)"),
])
def test_absent_abandoned_and_lagging_views_say_why(fresh: Freshness, head: int,
                                                    why: str) -> None:
    reason = judge("police", fresh, head, **LIMITS)
    assert reason is not None and why in reason and "police" in reason, reason
