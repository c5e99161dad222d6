"""Detector test fixtures: the real shipped models, shared with the other detector tests, and
the local Mosquitto broker for the MQTT sensor ingress."""

from __future__ import annotations

import os
import socket
import urllib.parse

import pytest

from tests.fixtures.detector_models import base_config, faces, plates, yolo

__all__ = ["base_config", "faces", "mosquitto_url", "plates", "yolo"]


@pytest.fixture(scope="session")
def mosquitto_url() -> str:
    """The MQTT broker at KUZET_TEST_MQTT_URL (default the local Mosquitto on 1883).

    Skipped when nothing listens there, except under CI=true, where the machines run
    Mosquitto and its absence is a failure.
    """
    url = os.environ.get("KUZET_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
    parsed = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 1883), timeout=2).close()
    except OSError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no MQTT broker at {url} ({exc}); start Mosquitto to run this test")
    return url
