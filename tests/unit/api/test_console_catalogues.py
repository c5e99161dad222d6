"""The console's language catalogues: the same keys everywhere, every domain term covered."""

from __future__ import annotations

import re

import pytest
from eventsourcing.domain import Aggregate

from api.auth import Role
from api.config import ApiConfig
from api.console import LANGUAGES, catalogue
from api.errors import ApiConfigError
from domain.incident import Incident
from domain.kinds import Agency, Kind, Status
from tests.helpers import default_rules

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _incident_events() -> set[str]:
    """The event types an incident's history can show (eventsourcing's own base classes
    `Event` and `Created` are defined on every aggregate but never recorded: Opened creates)."""
    return {name for name, value in vars(Incident).items()
            if isinstance(value, type) and issubclass(value, Aggregate.Event)} - {"Event", "Created"}


def test_every_language_has_every_key() -> None:
    reference = set(catalogue("en"))
    for lang in LANGUAGES:
        keys = set(catalogue(lang))
        assert keys == reference, (lang, sorted(keys ^ reference))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_domain_term_is_translated(lang: str) -> None:
    strings = catalogue(lang)
    wanted = ({f"kind.{k.value}" for k in Kind} | {f"status.{s.value}" for s in Status}
              | {f"agency.{a.value}" for a in Agency} | {f"role.{r.value}" for r in Role}
              | {f"event.{e}" for e in _incident_events()})
    assert _incident_events() >= {"Opened", "Acknowledged", "Resolved"}
    assert wanted - set(strings) == set()
    assert all(text.strip() for text in strings.values())


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_translations_keep_placeholders_and_are_not_english(lang: str) -> None:
    english, strings = catalogue("en"), catalogue(lang)
    for key, text in strings.items():
        assert set(_PLACEHOLDER.findall(text)) == set(_PLACEHOLDER.findall(english[key])), key
    ui = [k for k in strings if k.startswith(("ui.", "status.", "error."))]
    untranslated = [k for k in ui if strings[k] == english[k] and not strings[k].isupper()]
    assert untranslated == []


def test_unknown_language_and_zone_are_refused() -> None:
    with pytest.raises(KeyError):
        catalogue("de")
    with pytest.raises(ApiConfigError, match="Mars/Olympus"):
        ApiConfig(event_store_env={}, rules=default_rules(), token_secret="x" * 16,
                  timezone="Mars/Olympus")
