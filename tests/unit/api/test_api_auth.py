"""Tokens, principals and the package's import rules (pure, milliseconds)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from api.auth import Role, bearer, issue_token, verify_token
from api.errors import ExpiredToken, InvalidToken

SECRET = "s" * 32


def test_token_round_trip_and_defaults() -> None:
    who = verify_token(SECRET, issue_token(SECRET, subject="u1", role=Role.POLICE, ttl_s=60))
    assert (who.subject, who.role, who.agency, who.scope, who.sees_personal) == (
        "u1", Role.POLICE, "police", "police", True)
    op = verify_token(SECRET, issue_token(SECRET, subject="o", role=Role.OPERATOR, ttl_s=60))
    assert op.scope is None and not op.sees_personal and op.can_write


def test_tampered_wrong_secret_and_expired_tokens_are_refused() -> None:
    token = issue_token(SECRET, subject="u1", role=Role.ZHKKH, ttl_s=60, now=1000)
    with pytest.raises(InvalidToken):
        verify_token("t" * 32, token, now=1001)
    body, sig = token.split(".")
    with pytest.raises(InvalidToken):
        verify_token(SECRET, body[:-2] + "xx." + sig, now=1001)
    with pytest.raises(ExpiredToken):
        verify_token(SECRET, token, now=1060)


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
