"""Tokens as an attacker tries them: `kuzet token create` refusing nonsensical role/agency pairs
and lifetimes, revocation from the CLI held by a running API, and the city's identity provider
(OIDC) verified against a JWKS this test serves on a local port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import typer
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from api.tokens import OidcVerifier
from kuzet.commands import api as api_commands
from kuzet.settings import CHAINED_SQLITE
from tests.e2e.api.harness import SECRET, Server, running_server

IDP = "https://idp.city.test/realms/kuzet"


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    api_commands.register(app)
    return app


def _run(cli: typer.Typer, env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"KUZET_TOKEN_SECRET": SECRET, "KUZET_DATA_DIR": str(tmp_path),
            "KUZET_TOKEN_MAX_TTL_S": "3600"}


@pytest.mark.parametrize(("args", "says"), [
    (["--role", "police", "--agency", "situation_centre"], "may not act for agency"),
    (["--role", "zhkkh", "--agency", "police"], "may not act for agency"),
    (["--role", "auditor", "--agency", "zhkkh"], "may not act for agency"),
    (["--role", "operator", "--agency", "interpol"], "may not act for agency"),
    (["--role", "operator", "--ttl", "999999999999"], "a token lives 1..3600 seconds"),
    (["--role", "operator", "--ttl", "3601"], "a token lives 1..3600 seconds"),
    (["--role", "operator", "--ttl", "0"], "at least 1 second"),
    (["--role", "root"], "one of operator"),
])
def test_token_create_refuses_nonsense(cli: typer.Typer, env: dict[str, str], args: list[str],
                                       says: str) -> None:
    result = _run(cli, env, "token", "create", *args)
    said = " ".join(result.output.replace("│", " ").split())  # rich wraps the error box
    assert result.exit_code != 0 and says in said, result.output


def test_token_create_issues_a_jwt_the_api_accepts_and_revoke_holds(
        cli: typer.Typer, env: dict[str, str], tmp_path: Path) -> None:
    made = _run(cli, env, "token", "create", "--role", "operator", "--agency", "zhkkh",
                "--ttl", "600")
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    store = {"PERSISTENCE_MODULE": CHAINED_SQLITE, "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
             "SQLITE_LOCK_TIMEOUT": "30",
             "PRIVACY_PEPPER": (tmp_path / "privacy-pepper").read_text().strip()
             if (tmp_path / "privacy-pepper").exists() else "e2e-api-pepper-0123456789"}
    revoked = _run(cli, {**env, "KUZET_PRIVACY_PEPPER": store["PRIVACY_PEPPER"]},
                   "token", "revoke", token, "--reason", "left the service")
    assert revoked.exit_code == 0 and "revoked" in revoked.output, revoked.output
    with running_server(store) as server:
        r = httpx.post(f"{server.url}/graphql", json={"query": "{ me { role agency } }"},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "token revoked" in r.text, r.text
        fresh = _run(cli, env, "token", "create", "--role", "operator", "--agency", "zhkkh")
        me = server.gql("{ me { role agency views } }", token=fresh.output.strip())
        assert me["data"]["me"] == {"role": "operator", "agency": "zhkkh",
                                    "views": ["board", "zhkkh"]}


class _Jwks(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Any]]:
    """A JWKS served on a local port, and an API that trusts it (its `kuzet-police` group is
    the police, `duty-zhkkh` a ZhKKh duty operator)."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    _Jwks.body = json.dumps({"keys": [{**jwk, "kid": "idp-1", "alg": "ES256",
                                       "use": "sig"}]}).encode()
    http = HTTPServer(("127.0.0.1", 0), _Jwks)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    oidc = OidcVerifier(issuer=IDP, jwks_url=f"http://127.0.0.1:{http.server_port}/jwks",
                        audience="kuzet-api",
                        roles={"kuzet-police": "police", "duty-zhkkh": "operator:zhkkh"})
    folder = tmp_path_factory.mktemp("oidc")
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(folder / "events.sqlite")}
    try:
        with running_server(env, oidc=oidc) as server:
            yield server, key
    finally:
        http.shutdown()


def _idp_token(key: Any, groups: list[str], **over: Any) -> str:
    now = int(time.time())
    claims = {"iss": IDP, "aud": "kuzet-api", "sub": "ivanov", "iat": now, "exp": now + 300,
              "groups": groups, **over}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": over.pop("kid", "idp-1")})


def test_identity_provider_tokens_map_claims_to_role_and_agency(idp: tuple[Server, Any]) -> None:
    server, key = idp
    police = server.gql("{ me { subject role agency personal: seesPersonalData } }",
                        token=_idp_token(key, ["staff", "kuzet-police"]))
    assert police["data"]["me"] == {"subject": "ivanov", "role": "police", "agency": "police",
                                    "personal": True}
    duty = server.gql("{ me { role agency views } }", token=_idp_token(key, ["duty-zhkkh"]))
    assert duty["data"]["me"] == {"role": "operator", "agency": "zhkkh",
                                  "views": ["board", "zhkkh"]}


@pytest.mark.parametrize(("groups", "over", "says"), [
    (["staff"], {}, "maps to no role"),
    (["kuzet-police"], {"aud": "other-app"}, "Audience"),
    (["kuzet-police"], {"exp": int(time.time()) - 10}, "expired"),
    (["kuzet-police"], {"exp": int(time.time()) + 10 * 86400}, "exceeds the maximum"),
])
def test_identity_provider_tokens_are_checked_like_ours(idp: tuple[Server, Any], groups: list[str],
                                                        over: dict[str, Any], says: str) -> None:
    server, key = idp
    r = httpx.post(f"{server.url}/graphql", json={"query": "{ me { role } }"},
                   headers={"Authorization": f"Bearer {_idp_token(key, groups, **over)}"})
    assert r.status_code == 401 and says in r.text, r.text


def test_a_token_signed_by_another_key_under_the_idps_name_is_refused(
        idp: tuple[Server, Any]) -> None:
    server, _ = idp
    forged = _idp_token(ec.generate_private_key(ec.SECP256R1()), ["kuzet-police"])
    r = httpx.post(f"{server.url}/graphql", json={"query": "{ me { role } }"},
                   headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and "signature" in r.text, r.text
