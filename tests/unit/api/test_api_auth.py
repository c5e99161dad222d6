"""Tokens (JWT), principals, the authorisation policy and masking by field (pure, milliseconds)."""

from __future__ import annotations

import ast
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from api.auth import Principal, Role, bearer
from api.errors import ExpiredToken, InvalidToken
from api.policy import WITHHELD, reveal_for
from api.state import EventRecord
from api.tokens import KeyRing, issue_token, kid_of, verify_token

SECRET = "s" * 32
NOW = 1_800_000_000


def test_token_round_trip_defaults_and_standard_claims() -> None:
    token = issue_token(SECRET, subject="u1", role=Role.POLICE, ttl_s=60, now=NOW)
    who = verify_token(SECRET, token, now=NOW + 1)
    assert (who.subject, who.role, who.agency, who.scope, who.sees_personal) == (
        "u1", Role.POLICE, "police", "police", True)
    header, claims = jwt.get_unverified_header(token), jwt.decode(
        token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA" and header["kid"] == KeyRing.from_secret(SECRET).kid
    assert {"iss", "aud", "sub", "iat", "nbf", "exp", "jti"} <= claims.keys()
    assert who.token_id == claims["jti"] and who.expires_at == NOW + 60
    op = verify_token(SECRET, issue_token(SECRET, subject="o", role=Role.OPERATOR, ttl_s=60))
    assert op.scope is None and not op.sees_personal and op.can_write


def test_tampered_foreign_expired_early_and_unsigned_tokens_are_refused() -> None:
    token = issue_token(SECRET, subject="u1", role=Role.ZHKKH, ttl_s=60, now=NOW)
    with pytest.raises(InvalidToken, match="unknown key id"):
        verify_token("t" * 32, token, now=NOW + 1)
    head, body, sig = token.split(".")
    with pytest.raises(InvalidToken, match="signature"):
        verify_token(SECRET, f"{head}.{body[:-2]}xx.{sig}", now=NOW + 1)
    with pytest.raises(ExpiredToken):
        verify_token(SECRET, token, now=NOW + 60)
    with pytest.raises(InvalidToken, match="not valid yet"):
        verify_token(SECRET, token, now=NOW - 3600)
    claims = jwt.decode(token, options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": head})
    with pytest.raises(InvalidToken):
        verify_token(SECRET, unsigned, now=NOW + 1)
    with pytest.raises(InvalidToken):
        verify_token(SECRET, "nope", now=NOW)


def test_audience_issuer_and_maximum_lifetime_are_checked() -> None:
    other_aud = issue_token(SECRET, subject="u", role=Role.OPERATOR, ttl_s=60, audience="x")
    with pytest.raises(InvalidToken, match=r"(?i)audience"):
        verify_token(SECRET, other_aud)
    other_iss = issue_token(SECRET, subject="u", role=Role.OPERATOR, ttl_s=60, issuer="evil")
    with pytest.raises(InvalidToken, match=r"(?i)issuer"):
        verify_token(SECRET, other_iss)
    with pytest.raises(InvalidToken, match="a token lives"):
        issue_token(SECRET, subject="u", role=Role.OPERATOR, ttl_s=999_999_999_999)
    long = issue_token(SECRET, subject="u", role=Role.OPERATOR, ttl_s=7200, max_ttl_s=7200)
    with pytest.raises(InvalidToken, match="exceeds the maximum"):
        verify_token(SECRET, long, max_ttl_s=3600)


@pytest.mark.parametrize(("role", "agency"), [
    (Role.POLICE, "situation_centre"), (Role.ZHKKH, "police"), (Role.EDUCATION, "zhkkh"),
    (Role.AUDITOR, "police"), (Role.ADMIN, "zhkkh"), (Role.OPERATOR, "interpol"),
])
def test_nonsensical_role_agency_pairs_are_refused_on_issue_and_on_verify(
        role: Role, agency: str) -> None:
    with pytest.raises(InvalidToken, match="may not act for agency"):
        issue_token(SECRET, subject="u", role=role, agency=agency, ttl_s=60)
    ring = KeyRing.from_secret(SECRET)  # a token signed by a careless issuer is refused too
    claims = {"iss": "urn:kuzet", "aud": "kuzet-api", "sub": "u", "iat": int(time.time()),
              "nbf": int(time.time()), "exp": int(time.time()) + 60, "jti": "j",
              "role": role.value, "agency": agency}
    forged = jwt.encode(claims, ring.signing, algorithm="EdDSA",  # type: ignore[arg-type]
                        headers={"kid": ring.kid})
    with pytest.raises(InvalidToken, match="may not act for agency"):
        verify_token(ring, forged)


def test_key_rotation_several_public_keys_one_signer_es256_and_pem() -> None:
    old, new = ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())
    old_ring, new_ring = KeyRing.of(old), KeyRing.of(new)
    verifier = KeyRing.of(None, [old.public_key(), new.public_key()])
    for ring, alg in [(old_ring, "EdDSA"), (new_ring, "ES256")]:
        token = issue_token(ring, subject="u", role=Role.ADMIN, ttl_s=60)
        assert jwt.get_unverified_header(token)["alg"] == alg
        assert verify_token(verifier, token).role is Role.ADMIN
    dropped = KeyRing.of(None, [new.public_key()])
    with pytest.raises(InvalidToken, match="unknown key id"):
        verify_token(dropped, issue_token(old_ring, subject="u", role=Role.ADMIN, ttl_s=60))
    pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pubs = b"".join(k.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
                    for k in (old.public_key(), new.public_key()))
    ring = KeyRing.from_pem(pem, [pubs])
    assert ring.kid == kid_of(new.public_key()) and len(ring.public) == 2
    assert {k["kid"] for k in ring.jwks()["keys"]} == set(ring.public)


def test_agency_narrowing_applies_to_every_view() -> None:
    def who(role: Role, agency: str) -> Principal:
        return Principal("u", role, agency, expires_at=NOW)

    assert who(Role.OPERATOR, "situation_centre").views == ["board", "police", "zhkkh",
                                                            "education"]
    assert who(Role.OPERATOR, "zhkkh").views == ["board", "zhkkh"]
    assert who(Role.SUPERVISOR, "education").views == ["board", "education"]
    assert who(Role.POLICE, "police").views == ["police"]
    assert who(Role.AUDITOR, "situation_centre").views == ["board", "police", "zhkkh",
                                                           "education"]


def test_masking_is_structural_and_from_the_one_policy() -> None:
    key = "face_match:subject=W:LEAKED-TAIL#X"
    assert reveal_for("police").key(key) == key and reveal_for("auditor").key(key) == key
    masked = reveal_for("situation_centre").key(key)
    assert masked.startswith("face_match:subject=masked:") and "LEAKED" not in masked
    assert "TAIL" not in masked and "#X" not in masked
    assert reveal_for("zhkkh").key(key) == f"face_match:subject={WITHHELD}"
    assert reveal_for("zhkkh").key("fire:site=market-9") == "fire:site=market-9"
    subject = {"subject_id": "W:LEAKED-TAIL#X"}
    assert reveal_for("police").subject(subject) == subject
    assert str(reveal_for("situation_centre").subject(subject)).startswith("masked:")
    assert reveal_for("education").subject(subject) is None


def test_free_text_in_history_follows_the_feed_policy() -> None:
    note = EventRecord(uuid4(), "NoteAdded", 3, datetime.now(UTC), "operator:o", (), None,
                       {"text": "owner is Ivanov, plate A777AA02"})
    assert reveal_for("situation_centre").details(note)["text"].startswith("owner")
    assert "text" not in reveal_for("zhkkh").details(note)
    assert "text" not in reveal_for("education").details(note)
    assert reveal_for("police").revealed_in_record(note) == []  # free text is not logged


def test_bearer_header_parsing() -> None:
    assert bearer("Bearer abc") == "abc" and bearer("abc") == "abc" and bearer(None) is None


def test_api_imports_only_domain_and_projections() -> None:
    root = Path(__file__).resolve().parents[3] / "api"
    banned = {"kuzet", "streams", "detectors", "os"}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in banned, f"{path}: imports {name}"
