"""Rules as data: the shipped set loads; a broken file lists every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import InvalidRules
from domain.kinds import Agency, Kind
from domain.rules import load_rules
from tests.helpers import default_rules


def test_shipped_rules_load_and_group_smoke_and_alarm_with_fire() -> None:
    rules = default_rules()
    assert rules.group_of(Kind.SMOKE).kind is Kind.FIRE
    assert rules.group_of(Kind.FIRE_ALARM).kind is Kind.FIRE
    assert Kind.CROWD in rules.groups[Kind.FIRE].inhibits
    assert not rules.kinds[Kind.CANTEEN_COUNT].incident
    assert Agency.EMERGENCY in rules.groups[Kind.FIRE].agencies
    assert rules.rule_ref(Kind.FIRE) == "rule:fire@1"


def test_example_schedules_load() -> None:
    text = Path("examples/rules-with-schedules.toml").read_text()
    rules = load_rules(text)
    assert rules.schedules[0].site_id == "waste-site-01"


def test_every_problem_is_reported_at_once() -> None:
    text = """
version = 1
[kinds.fire]
key = "galaxy"
min_score = 3
severity = "apocalyptic"
agencies = ["ministry_of_magic"]
colour = "red"
[kinds.smoke]
group = "fire"
severity = "high"
[kinds.unicorn]
"""
    with pytest.raises(InvalidRules) as info:
        load_rules(text, "bad.toml")
    problems = "\n".join(info.value.problems)
    for needle in ("kinds.fire.key", "kinds.fire.min_score", "kinds.fire.severity",
                   "ministry_of_magic", "kinds.fire.colour", "kinds.smoke.severity",
                   "unknown kind 'unicorn'", "kinds.crowd: missing"):
        assert needle in problems
    assert "bad.toml" in str(info.value)


def test_not_toml_is_a_typed_error() -> None:
    with pytest.raises(InvalidRules, match="not valid TOML"):
        load_rules("version = = 1")
