"""Ed25519 signatures over HTTP bodies, both ways: our deliveries and agencies' report-backs.

The signed message is `<timestamp>.` followed by the exact body bytes, where `timestamp` is the
`Kuzet-Timestamp` header (Unix seconds). Binding the time lets a receiver refuse replays older
than its tolerance; signing the raw bytes (not a re-serialisation) means any JSON library can
verify. Headers:

    Kuzet-Timestamp: 1790000000
    Kuzet-Signature: ed25519=<base64 signature>
    Kuzet-Key-Id:    <first 16 hex of sha256(raw public key)>   (which key, for rotation)

Keys travel as base64 of their 32 raw bytes (`kuzet adapter keygen`); a private key may also be
a PEM (PKCS#8) file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from adapters.errors import SignatureError, SigningKeyError

__all__ = ["KEY_ID", "SIGNATURE", "TIMESTAMP", "KeyPair", "Signer", "generate", "key_id",
           "load_private_key", "load_public_key", "public_b64", "verify"]

TIMESTAMP = "Kuzet-Timestamp"
SIGNATURE = "Kuzet-Signature"
KEY_ID = "Kuzet-Key-Id"
_PREFIX = "ed25519="


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_b64(key: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes: what an agency configures."""
    return base64.b64encode(_raw_public(key)).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint that names the key without revealing anything secret."""
    return hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def _b64_32(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"{what} is not valid base64") from None
    if len(raw) != 32:
        raise SigningKeyError(f"{what} must be 32 bytes once decoded, not {len(raw)}")
    return raw


def load_private_key(material: bytes | str) -> Ed25519PrivateKey:
    """A private key from a base64 seed or a PEM (PKCS#8) text; the message never shows it."""
    data = material.encode() if isinstance(material, str) else material
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"the PEM private key cannot be loaded: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"the PEM private key is {type(key).__name__}, not Ed25519")
        return key
    return Ed25519PrivateKey.from_private_bytes(_b64_32(data.decode(errors="replace"),
                                                        "the private key seed"))


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from base64 of its 32 raw bytes."""
    return Ed25519PublicKey.from_public_bytes(_b64_32(text, "the public key"))


@dataclass(frozen=True)
class KeyPair:
    private_b64: str
    public_b64: str
    key_id: str


def generate() -> KeyPair:
    """A fresh key pair, both halves base64 of their raw bytes."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    public = private.public_key()
    return KeyPair(base64.b64encode(seed).decode(), public_b64(public), key_id(public))


def _message(timestamp: int, body: bytes) -> bytes:
    return f"{timestamp}.".encode() + body


class Signer:
    """Signs bodies with one private key; `headers` is all a request needs."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()
        self.key_id = key_id(self.public_key)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def headers(self, body: bytes, timestamp: int) -> dict[str, str]:
        signature = base64.b64encode(self._key.sign(_message(timestamp, body))).decode()
        return {TIMESTAMP: str(timestamp), SIGNATURE: _PREFIX + signature, KEY_ID: self.key_id}


def verify(key: Ed25519PublicKey, body: bytes, headers: Mapping[str, str], now: float,
           max_skew_s: float) -> int:
    """Check a signed request; returns its timestamp or raises `SignatureError` saying why."""
    raw_ts, raw_sig = headers.get(TIMESTAMP), headers.get(SIGNATURE)
    if not raw_ts or not raw_sig:
        raise SignatureError(f"missing {TIMESTAMP} or {SIGNATURE} header")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP}={raw_ts[:40]!r} is not an integer") from None
    if abs(now - timestamp) > max_skew_s:
        raise SignatureError(f"{TIMESTAMP}={timestamp} is more than {max_skew_s:.0f}s from now")
    if not raw_sig.startswith(_PREFIX):
        raise SignatureError(f"{SIGNATURE} must start with {_PREFIX!r}")
    try:
        key.verify(base64.b64decode(raw_sig[len(_PREFIX):], validate=True),
                   _message(timestamp, body))
    except (InvalidSignature, binascii.Error, ValueError):
        raise SignatureError("the signature does not verify with the agency's key") from None
    return timestamp
