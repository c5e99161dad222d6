"""A reader that cached a key before another process shredded it stops using it at the erasure.

Two application instances on one store stand for two processes (each has its own key caches,
set here to a minute so expiry cannot be what saves us). The projection-side reader must not
open, after the `PersonalDataErased` event, a value sealed by a process whose sealing cache was
stale — else a view would keep plaintext that nothing redacts later.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from audit.retention import shred_subject
from domain.application import IncidentApp
from domain.log import LogReader
from domain.privacy import SHREDDED
from eventstore.fastlog import FastLogReader
from tests.integration.privacy.conftest import RULES, keystore_of
from tests.integration.privacy.test_keystore import T0, open_plate


@pytest.fixture
def apps(sealed_env: dict[str, str]) -> Iterator[tuple[IncidentApp, IncidentApp]]:
    env = {**sealed_env, "PRIVACY_KEY_CACHE_S": "60"}
    worker, dpo = IncidentApp(env, RULES), IncidentApp(env, RULES)
    yield worker, dpo
    worker.close()
    dpo.close()


@pytest.mark.parametrize("reader_class", [FastLogReader, LogReader])
def test_no_value_opens_after_its_erasure_with_a_cached_key(
        apps: tuple[IncidentApp, IncidentApp], reader_class: type) -> None:
    worker, dpo = apps
    open_plate(worker)
    reader = reader_class(worker)
    before = reader.read(1, 100)
    assert [e.data["subject"] for e in before if e.name == "Opened"] == [{"plate": "A 123 BC 02"}]

    shred_subject(dpo, keystore_of(dpo), "plate:A123BC02", reason="request 9",
                  actor="operator:dpo", at=T0 + timedelta(minutes=1))
    # the plate is seen again: the worker opens the next episode without reading the erasure,
    # sealing with the plate key its cache still holds (now destroyed)
    open_plate(worker, episode=1)

    after = reader.read(before[-1].position + 1, 100)
    names = [e.name for e in after]
    assert "PersonalDataErased" in names
    reopened = [e for e in after[names.index("PersonalDataErased"):] if e.name == "Opened"]
    assert [e.data["subject"] for e in reopened] == [{"plate": SHREDDED}]
