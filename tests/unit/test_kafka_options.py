"""The cluster security settings become aiokafka client options (every Kafka client of Kuzet)."""

from __future__ import annotations

import ssl

import pytest

from kuzet.kafka import client_options
from kuzet.settings import SettingsError, load_settings


def test_plaintext_passes_nothing() -> None:
    assert client_options(load_settings(environ={})) == {}


def test_sasl_ssl_gives_every_client_the_mechanism_credentials_and_a_tls_context() -> None:
    settings = load_settings(environ={
        "KUZET_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KUZET_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KUZET_KAFKA_SASL_USERNAME": "kuzet", "KUZET_KAFKA_SASL_PASSWORD": "s3cret-pw"})
    options = client_options(settings)
    assert isinstance(options.pop("ssl_context"), ssl.SSLContext)
    assert options == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "kuzet", "sasl_plain_password": "s3cret-pw"}
    assert "s3cret-pw" not in repr(settings)


def test_ssl_alone_is_a_tls_context() -> None:
    options = client_options(load_settings(environ={"KUZET_KAFKA_SECURITY_PROTOCOL": "SSL"}))
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize(("environ", "names"), [
    ({"KUZET_KAFKA_SECURITY_PROTOCOL": "TLS"}, "KUZET_KAFKA_SECURITY_PROTOCOL='TLS'"),
    ({"KUZET_KAFKA_SASL_MECHANISM": "GSSAPI"}, "KUZET_KAFKA_SASL_MECHANISM='GSSAPI'"),
    ({"KUZET_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "KUZET_KAFKA_SASL_PASSWORD"),
])
def test_bad_security_settings_name_the_key(environ: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings(environ=environ)
