"""Sealing personal values in the event store: the mapper, the factory mixin, the stored form.

`SealingMapper` (an eventsourcing `Mapper`) seals on the way in: each personal value that
`domain.erasure.seal_field` picks out is replaced by a marker
`{"$sealed": 1, "k": key id, "f": field, "c": base64(nonce + AES-256-GCM ciphertext)}`, the
additional data binding key id and field, under its identity's key from the `KeyStore`. On
the way out it opens markers: the plaintext while the key exists, `[shredded]` after.

`SealingFactoryMixin` gives an eventsourcing SQLite or PostgreSQL factory this mapper and the
key tables (`eventstore.store_sqlite` / `eventstore.store_postgres` mix it in).
`SealedLogReader` reads the log in stored form (markers left sealed): the relay and exports
publish ciphertext as stored, so a re-sent or regenerated message is byte-identical and outlives
no shred. `unseal(value, keys)` opens markers in any value (the webhook adapter uses it for
agencies entitled to personal fields)."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    StoredEvent,
    Transcoder,
)

from domain.erasure import Identity, seal_field, sealed_fields, unseal_field
from domain.log import LogReader
from domain.privacy import SEALED, SHREDDED
from eventstore.keystore import KeyStore, KeyStoreError, PrivacyError

__all__ = ["SealedLogReader", "SealedValueError", "Sealer", "SealingFactoryMixin",
           "SealingMapper", "unseal"]


class SealedValueError(PrivacyError):
    """Raised when a sealed marker is malformed or its ciphertext fails authentication
    (tampering, or a marker moved to another field): never silently read as shredded."""


class Sealer:
    """Seals and opens single values under the key store's keys (AES-256-GCM, 96-bit nonce)."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._ciphers: dict[bytes, AESGCM] = {}

    def _cipher(self, key: bytes) -> AESGCM:
        """One AESGCM per key (cached by key bytes: a shredded key is never asked for again)."""
        cipher = self._ciphers.get(key)
        if cipher is None:
            if len(self._ciphers) > 10_000:
                self._ciphers.clear()
            cipher = self._ciphers[key] = AESGCM(key)
        return cipher

    def seal(self, plaintext: str, identity: Identity, field: str,
             originator_id: str | None) -> dict[str, Any]:
        """The marker that stands for `plaintext`; `originator_id` is the incident holding it."""
        key_id, key = self.keys.sealing_key(identity, originator_id)
        nonce = os.urandom(12)
        sealed = self._cipher(key).encrypt(nonce, plaintext.encode(), _aad(key_id, field))
        return {SEALED: 1, "k": key_id, "f": field,
                "c": base64.b64encode(nonce + sealed).decode()}

    def open(self, marker: Mapping[str, Any]) -> str:
        key_id, field, blob = _parts(marker)
        key = self.keys.opening_key(key_id)
        if key is None:
            return SHREDDED
        try:
            return self._cipher(key).decrypt(blob[:12], blob[12:], _aad(key_id, field)).decode()
        except (InvalidTag, UnicodeDecodeError):
            raise SealedValueError(f"sealed value under key {key_id} (field {field!r}) fails "
                                   "authentication: altered or moved") from None


def _aad(key_id: str, field: str) -> bytes:
    return f"{key_id}\0{field}".encode()


def _parts(marker: Mapping[str, Any]) -> tuple[str, str, bytes]:
    try:
        key_id, field = marker["k"], marker["f"]
        blob = base64.b64decode(marker["c"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise SealedValueError(f"malformed sealed value {sorted(marker)!r}") from None
    if type(key_id) is not str or len(key_id) != 36 or type(field) is not str:
        raise SealedValueError(f"malformed sealed value: key id {key_id!r}, field {field!r}")
    if len(blob) < 12 + 16:
        raise SealedValueError(f"sealed value under key {key_id} is too short")
    return key_id, field, blob


def unseal(value: Any, keys: KeyStore) -> Any:
    """`value` with each sealed marker in it opened: plaintext, or `[shredded]`."""
    return unseal_field(value, Sealer(keys).open)


class SealingMapper(Mapper[UUID]):
    """Seals personal values on `to_stored_event`, opens them on `to_domain_event`."""

    def __init__(self, transcoder: Transcoder, compressor: Compressor | None = None,
                 cipher: Cipher | None = None, *, sealer: Sealer) -> None:
        super().__init__(transcoder, compressor, cipher)
        self.sealer = sealer

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        fields = sealed_fields(cls.__qualname__)
        if not fields:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))  # the event itself stays as it is (plaintext)
        originator_id = str(state["originator_id"])
        owner = originator_id if cls.__qualname__.startswith("Incident.") else None

        def seal(plaintext: str, identity: Identity, field: str) -> dict[str, Any]:
            return self.sealer.seal(plaintext, identity, field, owner)

        for name in fields:
            if name in state:
                state[name] = seal_field(name, state[name], originator_id, seal)
        twin = object.__new__(cls)
        object.__setattr__(twin, "__dict__", state)
        return super().to_stored_event(twin)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        state = domain_event.__dict__  # a fresh object: opening in place is safe
        if stored_event.topic.endswith(ERASURE_TOPIC):  # later events must not open with
            self.sealer.keys.forget(state.get("key_ids") or ())  # a key cached before it
        for name in sealed_fields(type(domain_event).__qualname__):
            if name in state:
                state[name] = unseal_field(state[name], self.sealer.open)
        return domain_event

    def stored_form(self) -> Mapper[UUID]:
        """A mapper over the same transcoder that leaves sealed values sealed."""
        return Mapper(self.transcoder, self.compressor, self.cipher)


ERASURE_TOPIC = "Incident.PersonalDataErased"
"""The stored topic's tail of the event that says which keys were shredded."""


class SealingFactoryMixin:
    """Mix into an eventsourcing SQLite or PostgreSQL infrastructure factory (first base).

    With `PRIVACY_PEPPER` in the factory's env (the composition root always sets it:
    `kuzet.settings.Settings.privacy_env`), it creates the key tables with the event tables and
    makes every mapper a `SealingMapper`; `PRIVACY_KEY_CACHE_S` (default 5) bounds key caching.
    An env without a pepper (a test building its own env) gets eventsourcing's plain mapper and
    `keystore` None. Snapshotting is refused with sealing: a snapshot would store an
    aggregate's personal values unsealed.
    """

    PRIVACY_PEPPER = "PRIVACY_PEPPER"
    PRIVACY_KEY_CACHE_S = "PRIVACY_KEY_CACHE_S"
    env: Any
    datastore: Any

    def __init__(self, env: Any) -> None:
        super().__init__(env)  # type: ignore[call-arg]
        self.keystore: KeyStore | None = None
        pepper = self.env.get(self.PRIVACY_PEPPER) or ""
        if not pepper:
            return
        try:
            cache_s = float(self.env.get(self.PRIVACY_KEY_CACHE_S) or 5.0)
        except ValueError:
            raise KeyStoreError(f"{self.PRIVACY_KEY_CACHE_S} must be a number of seconds"
                                ) from None
        self.keystore = KeyStore(self.datastore, pepper=pepper.encode(), cache_s=cache_s)
        if self.env_create_table():
            self.keystore.create_tables()

    def env_create_table(self) -> bool:
        return bool(super().env_create_table())  # type: ignore[misc]

    def mapper(self, transcoder: Transcoder | None = None,
               mapper_class: type[Mapper[Any]] | None = None) -> Mapper[Any]:
        plain: Mapper[Any] = super().mapper(transcoder, mapper_class)  # type: ignore[misc]
        if self.keystore is None:
            return plain
        return SealingMapper(plain.transcoder, plain.compressor, plain.cipher,
                             sealer=Sealer(self.keystore))

    def is_snapshotting_enabled(self) -> bool:
        enabled = bool(super().is_snapshotting_enabled())  # type: ignore[misc]
        if enabled and self.keystore is not None:
            raise KeyStoreError("IS_SNAPSHOTTING_ENABLED is refused with sealing: snapshots "
                                "would store personal values unsealed")
        return enabled


class SealedLogReader(LogReader):
    """A `LogReader` that leaves sealed values sealed: the stored form, for relays and exports."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        if isinstance(self._mapper, SealingMapper):
            self._mapper = self._mapper.stored_form()
