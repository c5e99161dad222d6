"""Ed25519 signing of deliveries and verification of report-backs: pure, milliseconds."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.errors import SignatureError, SigningKeyError
from adapters.signing import (
    KEY_ID,
    SIGNATURE,
    TIMESTAMP,
    Signer,
    generate,
    load_private_key,
    load_public_key,
    verify,
)

NOW = 1_790_000_000
BODY = b'{"id":"e1","data":{"x":1}}'


@pytest.fixture
def signer() -> Signer:
    return Signer(load_private_key(generate().private_b64))


def test_a_signature_verifies_over_the_exact_bytes_and_time(signer: Signer) -> None:
    headers = signer.headers(BODY, NOW)
    assert headers[KEY_ID] == signer.key_id and headers[TIMESTAMP] == str(NOW)
    assert verify(signer.public_key, BODY, headers, NOW + 10, 300) == NOW
    with pytest.raises(SignatureError, match="does not verify"):
        verify(signer.public_key, BODY + b" ", headers, NOW, 300)
    with pytest.raises(SignatureError, match="does not verify"):
        verify(signer.public_key, BODY, {**headers, TIMESTAMP: str(NOW + 1)}, NOW, 300)
    other = Signer(load_private_key(generate().private_b64))
    with pytest.raises(SignatureError, match="does not verify"):
        verify(other.public_key, BODY, headers, NOW, 300)


@pytest.mark.parametrize(("change", "message"), [
    ({TIMESTAMP: None}, "missing"),
    ({SIGNATURE: None}, "missing"),
    ({TIMESTAMP: "soon"}, "not an integer"),
    ({TIMESTAMP: str(NOW - 301)}, "more than 300s"),
    ({SIGNATURE: "hmac=abc"}, "must start with"),
    ({SIGNATURE: "ed25519=not base64!"}, "does not verify"),
])
def test_malformed_or_stale_headers_are_refused_with_the_reason(
        signer: Signer, change: dict[str, str | None], message: str) -> None:
    headers = {k: v for k, v in {**signer.headers(BODY, NOW), **change}.items() if v is not None}
    with pytest.raises(SignatureError, match=message):
        verify(signer.public_key, BODY, headers, NOW, 300)


def test_keys_load_from_a_base64_seed_or_pem_and_bad_ones_say_why() -> None:
    pair = generate()
    seeded = load_private_key(pair.private_b64)
    pem = seeded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    assert Signer(load_private_key(pem)).key_id == pair.key_id == Signer(seeded).key_id
    assert Signer(seeded).public_key == load_public_key(pair.public_b64)
    with pytest.raises(SigningKeyError, match="not valid base64"):
        load_private_key("not-base64!")
    with pytest.raises(SigningKeyError, match="32 bytes once decoded, not 3"):
        load_private_key(base64.b64encode(b"abc").decode())
    rsa_like = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    with pytest.raises(SigningKeyError, match="not Ed25519"):
        load_private_key(rsa_like)
    with pytest.raises(SigningKeyError, match="public key must be 32 bytes"):
        load_public_key(base64.b64encode(b"x" * 31).decode())


def test_the_signer_never_shows_its_private_key() -> None:
    pair = generate()
    signer = Signer(load_private_key(pair.private_b64))
    assert pair.private_b64 not in repr(signer) and pair.key_id in repr(signer)
