"""What `kuzet up` hands its children: the same settings, resolved where a child would differ."""

from pathlib import Path

from kuzet.settings import load_settings
from kuzet.stack import settings_env


def test_children_get_the_rules_and_procedures_files(tmp_path: Path) -> None:
    """A procedures file set in the parent's config file reaches the worker and the API."""
    settings = load_settings(environ={}, data_dir=str(tmp_path),
                             rules_path=str(tmp_path / "r.toml"),
                             procedures_path=str(tmp_path / "p.toml"))
    env = settings_env(settings, "127.0.0.1:9")
    assert env["KUZET_RULES_PATH"] == str(tmp_path / "r.toml")
    assert env["KUZET_PROCEDURES_PATH"] == str(tmp_path / "p.toml")


def test_children_pointed_at_the_embedded_broker_keep_its_fetch_wait(tmp_path: Path) -> None:
    """Children reach the embedded broker through KUZET_KAFKA_URL, which alone would make them
    take a cluster's 500 ms fetch wait (Tansu answers a fetch only when the wait ends)."""
    embedded = load_settings(environ={}, data_dir=str(tmp_path))
    assert embedded.fetch_wait_ms == 10
    env = settings_env(embedded, "127.0.0.1:9092")
    child = load_settings(environ={k: v for k, v in env.items() if k.startswith("KUZET_")})
    assert child.kafka_url and child.fetch_wait_ms == 10
    cluster = load_settings(environ={}, data_dir=str(tmp_path), kafka_url="k1:9092")
    assert cluster.fetch_wait_ms == 500
    assert load_settings(environ={}, kafka_url="k1:9092", kafka_fetch_wait_ms=50).fetch_wait_ms == 50
