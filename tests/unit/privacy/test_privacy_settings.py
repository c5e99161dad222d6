"""Privacy settings: the pepper is required with PostgreSQL, generated once for local SQLite,
never printed; retention days must be positive."""

from __future__ import annotations

from pathlib import Path

import pytest

from kuzet.settings import SettingsError, load_settings

PG = "postgresql://kuzet@127.0.0.1:5432/kuzet"


def test_postgres_needs_a_pepper_and_it_never_prints() -> None:
    with pytest.raises(SettingsError, match="KUZET_PRIVACY_PEPPER is required"):
        load_settings(environ={"KUZET_EVENT_STORE_URL": PG}).event_store_env()
    with pytest.raises(SettingsError, match="at least 16"):
        load_settings(environ={"KUZET_PRIVACY_PEPPER": "short"})
    settings = load_settings(environ={"KUZET_EVENT_STORE_URL": PG,
                                      "KUZET_PRIVACY_PEPPER": "a-long-enough-secret"})
    assert settings.event_store_env()["PRIVACY_PEPPER"] == "a-long-enough-secret"
    assert "a-long-enough-secret" not in repr(settings)


def test_the_local_store_generates_its_pepper_once(tmp_path: Path) -> None:
    env = {"KUZET_DATA_DIR": str(tmp_path)}
    first = load_settings(environ=env).event_store_env()["PRIVACY_PEPPER"]
    assert len(first) >= 32
    assert load_settings(environ=env).event_store_env()["PRIVACY_PEPPER"] == first
    assert (tmp_path / "privacy-pepper").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["privacy-pepper"]


@pytest.mark.parametrize("name", ["FACE", "PLATE", "SNAPSHOT", "FREE_TEXT"])
def test_retention_days_must_be_positive(name: str) -> None:
    with pytest.raises(SettingsError, match=f"KUZET_RETENTION_DAYS_{name}"):
        load_settings(environ={f"KUZET_RETENTION_DAYS_{name}": "0"})
    days = load_settings(environ={f"KUZET_RETENTION_DAYS_{name}": "7.5"}).retention_days
    assert days[name.lower()] == 7.5
