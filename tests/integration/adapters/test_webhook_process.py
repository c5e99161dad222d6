"""`kuzet adapter webhook` as a real process: SIGKILLed mid-feed, restarted, then the CLI's
receipts, regenerate and parked commands prove what the receiver got."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adapters.envelope import sha256
from adapters.signing import KeyPair, load_public_key
from adapters.state_sqlite import SqliteState
from kuzet.broker import EmbeddedBroker
from kuzet.commands import adapter
from kuzet.errors import KuzetError
from tests.integration.adapters.conftest import PoliceFeed, police_feed, wait_until
from tests.integration.adapters.receiver import Chaos, ChaosReceiver

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 3


@pytest.fixture
def cli() -> typer.Typer:
    """Only this area's commands, registered exactly as `kuzet.cli` does."""
    app = typer.Typer()
    adapter.register(app)
    return app


def _env(tmp_path: Path, broker: EmbeddedBroker, key_pair: KeyPair) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KUZET_")}
    return {**clean, "KUZET_DATA_DIR": str(tmp_path / "data"),
            "KUZET_KAFKA_URL": broker.bootstrap_servers,
            "KUZET_ADAPTER_SIGNING_KEY": key_pair.private_b64,
            "KUZET_ADAPTER_MAX_ATTEMPTS": "60", "KUZET_ADAPTER_BACKOFF_BASE_S": "0.005",
            "KUZET_ADAPTER_BACKOFF_CAP_S": "0.02", "KUZET_ADAPTER_TIMEOUT_S": "2"}


def _settled(tmp_path: Path, feed: PoliceFeed) -> bool:
    """Every event receipted or parked (read from the adapter's own SQLite store)."""
    async def count() -> int:
        state = SqliteState(tmp_path / "data" / "adapters.sqlite")
        try:
            await state.setup()
            receipts = await state.receipts("police", adapter.MIN_TIME, adapter.MAX_TIME)
            return len(receipts) + len(await state.parked("police"))
        finally:
            await state.close()
    return asyncio.run(count()) == len(feed.deliverable) + 2  # + poison note + garbage


def test_a_killed_adapter_resumes_and_the_cli_proves_what_was_received(
        broker: EmbeddedBroker, tmp_path: Path, key_pair: KeyPair, cli: typer.Typer) -> None:
    feed = asyncio.run(police_feed(broker.bootstrap_servers, tmp_path, incidents=60))
    receiver = ChaosReceiver(load_public_key(key_pair.public_b64),
                             Chaos(p_500=0.1, p_store_drop=0.1, delay_s=0.01), seed=5).start()
    env = _env(tmp_path, broker, key_pair)
    cmd = [sys.executable, "-m", "kuzet", "adapter", "webhook", "--agency", "police",
           "--url", receiver.url, "--topic", feed.topic]
    try:
        first = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        wait_until(lambda: len(receiver.unique()) >= 30, "a first part of the feed")
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = len(receiver.stored)
        assert len(receiver.unique()) < len(feed.deliverable)  # it died mid-feed
        second = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        wait_until(lambda: _settled(tmp_path, feed), "the restarted adapter to finish")
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, second.stderr.read() if second.stderr else ""
    finally:
        receiver.stop()

    unique = receiver.unique()
    assert set(unique) == feed.deliverable and receiver.outcomes["bad_signature"] == 0
    before = {r.key for r in receiver.stored[:killed_at]}
    after = {r.key for r in receiver.stored[killed_at:]}
    assert len(before & after) <= PARTITIONS  # resumed at the checkpoints: only in-flight again

    run = CliRunner().invoke
    got = run(cli, ["adapter", "receipts", "--agency", "police", "--json"], env=env)
    assert got.exit_code == 0, got.output
    receipts = {r["event_id"]: r["sha256"] for r in map(json.loads, got.output.splitlines())}
    assert receipts == {k: sha256(body) for k, body in unique.items()}

    out = tmp_path / "regenerated.jsonl"
    got = run(cli, ["adapter", "regenerate", "--agency", "police", "--topic", feed.topic,
                    "--from", "2026-11-26T00:00:00+05:00", "--to", "2026-11-27T00:00:00Z",
                    "--out", str(out)], env=env)
    assert got.exit_code == 0, got.output
    assert f"{len(unique)} match, 0 differs, 0 shredded, 1 not delivered" in got.output
    assert set(out.read_bytes().splitlines()) == {*unique.values(), _poison_body(out, feed)}

    got = run(cli, ["adapter", "parked", "list", "--agency", "police", "--json"], env=env)
    parked = [json.loads(line) for line in got.output.splitlines()]
    assert feed.poison in {p["event_id"] for p in parked} and len(parked) == 2
    got = run(cli, ["adapter", "parked", "drop", "--agency", "police", "--id", feed.poison],
              env=env)
    assert got.exit_code == 0 and feed.poison in got.output
    got = run(cli, ["adapter", "parked", "list", "--agency", "police"], env=env)
    assert feed.poison not in got.output and "1 parked" in got.output
    got = run(cli, ["adapter", "parked", "drop", "--agency", "police"], env=env)
    assert isinstance(got.exception, KuzetError)  # the CLI prints it as one line, exit 2
    assert "exactly one of --id or --all" in str(got.exception)
    got = run(cli, ["adapter", "receipts", "--agency", "police", "--from", "yesterday"], env=env)
    assert "--from 'yesterday': expected RFC 3339" in str(got.exception)


def _poison_body(out: Path, feed: PoliceFeed) -> bytes:
    """The poison note's line in the regenerated file (it was never delivered)."""
    [line] = [x for x in out.read_bytes().splitlines() if feed.poison.encode() in x]
    return line
