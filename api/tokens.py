"""Bearer tokens: JWT (RFC 7519) through PyJWT, signed with EdDSA (Ed25519) or ES256.

Claims: `iss`, `aud`, `sub`, `iat`, `nbf`, `exp`, `jti` (the token id a revocation names),
`role`, `agency`. Every one is required and checked; a lifetime (`exp - iat`) over the maximum
is refused, as is a role acting for an agency it cannot (`api.auth.check_pair`).

Keys (`KeyRing`): one signing key and any number of verification keys, each known by its `kid`
(the RFC 7638 thumbprint of its public key), so keys rotate by adding the new public key
everywhere, then signing with the new private key, then dropping the old public key. A ring
made from a shared secret (`KeyRing.from_secret`, development and tests) derives an Ed25519
key from it: still an asymmetric signature, but whoever holds the secret can sign.

Tokens from the city's identity provider (`OidcVerifier`): an OIDC issuer's JWKS, with a claim
mapped to role and agency by configuration; its keys are fetched (and cached) from the JWKS URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from api.auth import Principal, Role, check_pair, default_agency
from api.errors import ExpiredToken, InvalidToken

__all__ = ["DEFAULT_AUDIENCE", "DEFAULT_ISSUER", "DEFAULT_MAX_TTL_S", "KeyRing", "OidcVerifier",
           "TokenVerifier", "issue_token", "kid_of", "unverified_claims", "verify_token"]

DEFAULT_ISSUER = "urn:kuzet"
DEFAULT_AUDIENCE = "kuzet-api"
DEFAULT_MAX_TTL_S = 24 * 3600
LEEWAY_S = 30
"""Clock skew tolerated on `nbf` and `iat` (never on `exp`)."""
_REQUIRED = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"]
_REQUIRED_OIDC = ["iss", "aud", "sub", "iat", "exp"]
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(public: PublicKey) -> dict[str, str]:
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    numbers = public.public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big"))}


def kid_of(public: PublicKey) -> str:
    """The key's RFC 7638 thumbprint (SHA-256 of its canonical JWK)."""
    canonical = json.dumps(_jwk(public), separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def _alg(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if key.curve.name != "secp256r1":
        raise InvalidToken(f"EC keys must be P-256 (ES256), not {key.curve.name}")
    return "ES256"


@dataclass(frozen=True)
class KeyRing:
    """One signing key (optional: a verifier needs none) and the public keys accepted, by kid."""

    signing: PrivateKey | None = field(default=None, repr=False)
    public: Mapping[str, PublicKey] = field(default_factory=dict)

    @classmethod
    def of(cls, signing: PrivateKey | None, public: Sequence[PublicKey] = ()) -> KeyRing:
        keys = [*public, *([signing.public_key()] if signing is not None else [])]
        for key in keys:
            _alg(key)
        return cls(signing, {kid_of(k): k for k in keys})

    @classmethod
    def from_secret(cls, secret: str) -> KeyRing:
        """An Ed25519 ring derived from a shared secret (development, tests)."""
        seed = hashlib.sha256(b"kuzet-token-ed25519\x00" + secret.encode()).digest()
        return cls.of(ed25519.Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, private_pem: bytes | None, public_pems: Sequence[bytes] = ()) -> KeyRing:
        """A ring from a PEM private key (PKCS#8) and PEM public keys (several per file)."""
        try:
            signing = (serialization.load_pem_private_key(private_pem, password=None)
                       if private_pem else None)
            public = [serialization.load_pem_public_key(block)
                      for pem in public_pems for block in _pem_blocks(pem)]
        except (ValueError, TypeError) as exc:
            raise InvalidToken(f"unreadable token key: {exc}") from None
        if signing is not None and not isinstance(signing, PrivateKey):
            raise InvalidToken("token signing key must be Ed25519 or EC P-256")
        if not all(isinstance(k, PublicKey) for k in public):
            raise InvalidToken("token verification keys must be Ed25519 or EC P-256")
        return cls.of(signing, public)  # type: ignore[arg-type]

    @property
    def kid(self) -> str:
        if self.signing is None:
            raise InvalidToken("this key ring has no signing key")
        return kid_of(self.signing.public_key())

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (what an external verifier would fetch)."""
        return {"keys": [{**_jwk(k), "kid": kid, "alg": _alg(k), "use": "sig"}
                         for kid, k in self.public.items()]}


def _pem_blocks(pem: bytes) -> list[bytes]:
    marker = b"-----END PUBLIC KEY-----"
    return [part.strip() + b"\n" + marker + b"\n"
            for part in pem.split(marker) if part.strip()]


def _ring(keys: KeyRing | str) -> KeyRing:
    return KeyRing.from_secret(keys) if isinstance(keys, str) else keys


def issue_token(keys: KeyRing | str, *, subject: str, role: Role, agency: str | None = None,
                ttl_s: int, now: float | None = None, issuer: str = DEFAULT_ISSUER,
                audience: str = DEFAULT_AUDIENCE, max_ttl_s: int = DEFAULT_MAX_TTL_S,
                token_id: str | None = None) -> str:
    """A signed token for `subject` acting as `role` for `agency`, valid `ttl_s` seconds
    (1..`max_ttl_s`; a negative `ttl_s` makes an already expired token, for tests)."""
    ring = _ring(keys)
    agency = agency or default_agency(role)
    check_pair(role, agency)
    if ttl_s > max_ttl_s or ttl_s == 0:
        raise InvalidToken(f"ttl {ttl_s}s: a token lives 1..{max_ttl_s} seconds")
    if not 0 < len(subject) <= 200:
        raise InvalidToken("a token's subject must be 1..200 characters")
    issued = int(time.time() if now is None else now)
    claims = {"iss": issuer, "aud": audience, "sub": subject, "iat": issued,
              "nbf": min(issued, issued + ttl_s), "exp": issued + ttl_s,
              "jti": token_id or uuid.uuid4().hex, "role": role.value, "agency": agency}
    assert ring.signing is not None
    kid = ring.kid
    return jwt.encode(claims, ring.signing, algorithm=_alg(ring.signing), headers={"kid": kid})


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a token without checking anything (to name a token to revoke)."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"malformed token: {exc}") from None
    return claims


def _times(claims: Mapping[str, Any], now: float, max_ttl_s: int) -> int:
    try:
        iat, exp = int(claims["iat"]), int(claims["exp"])
        nbf = int(claims.get("nbf", iat))
    except (KeyError, TypeError, ValueError):
        raise InvalidToken("token times (iat, nbf, exp) must be integers") from None
    if exp <= now:
        raise ExpiredToken(exp)
    if nbf > now + LEEWAY_S or iat > now + LEEWAY_S:
        raise InvalidToken("token not valid yet (nbf/iat in the future)")
    if exp - iat > max_ttl_s:
        raise InvalidToken(f"token lifetime {exp - iat}s exceeds the maximum {max_ttl_s}s")
    return exp


def _decode(token: str, key: Any, algorithms: list[str], audience: str, issuer: str,
            required: list[str] = _REQUIRED) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=algorithms, audience=audience, issuer=issuer,
            options={"require": required, "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False})
    except jwt.InvalidSignatureError:
        raise InvalidToken("invalid token signature") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from None
    return claims


def verify_token(keys: KeyRing | str, token: str, now: float | None = None, *,
                 issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE,
                 max_ttl_s: int = DEFAULT_MAX_TTL_S) -> Principal:
    """The principal a token names; `InvalidToken` or `ExpiredToken` otherwise."""
    ring = _ring(keys)
    try:
        header = jwt.get_unverified_header(token.strip())
    except jwt.InvalidTokenError:
        raise InvalidToken("invalid token signature (not a JWT)") from None
    key = ring.public.get(str(header.get("kid")))
    if key is None:
        raise InvalidToken("invalid token signature (unknown key id)")
    claims = _decode(token.strip(), key, [_alg(key)], audience, issuer)
    exp = _times(claims, time.time() if now is None else now, max_ttl_s)
    try:
        role = Role(claims["role"])
        agency = str(claims["agency"])
    except (KeyError, ValueError):
        raise InvalidToken("token names no known role or agency") from None
    check_pair(role, agency)
    return Principal(subject=str(claims["sub"]), role=role, agency=agency, expires_at=exp,
                     token_id=str(claims["jti"]), issuer=issuer)


@dataclass(frozen=True)
class OidcVerifier:
    """Tokens of an OIDC identity provider: keys from its JWKS, role and agency from a claim.

    `roles` maps a claim value to `role` or `role:agency` (e.g. `{"kuzet-police": "police"}`);
    the claim may hold one value or a list, and the first value that maps wins. Fetching the
    JWKS blocks: call `verify` in a worker thread.
    """

    issuer: str
    jwks_url: str
    audience: str
    roles: Mapping[str, str]
    role_claim: str = "groups"
    max_ttl_s: int = DEFAULT_MAX_TTL_S
    _client: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_client", jwt.PyJWKClient(self.jwks_url, lifespan=300,
                                                            timeout=5))

    def _principal_role(self, claims: Mapping[str, Any]) -> tuple[Role, str]:
        value = claims.get(self.role_claim)
        values = value if isinstance(value, list) else [value]
        for v in values:
            mapped = self.roles.get(str(v))
            if mapped is not None:
                role, _, agency = mapped.partition(":")
                return Role(role), agency or default_agency(Role(role))
        raise InvalidToken(f"the identity provider's token maps to no role "
                           f"(claim {self.role_claim!r})")

    def verify(self, token: str, now: float | None = None) -> Principal:
        try:
            key = self._client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:
            raise InvalidToken(f"identity provider key not found: {exc}") from None
        claims = _decode(token, key, ["RS256", "ES256", "EdDSA"], self.audience, self.issuer,
                         _REQUIRED_OIDC)
        exp = _times(claims, time.time() if now is None else now, self.max_ttl_s)
        role, agency = self._principal_role(claims)
        check_pair(role, agency)
        return Principal(subject=str(claims["sub"]), role=role, agency=agency, expires_at=exp,
                         token_id=str(claims.get("jti") or ""), issuer=self.issuer)


@dataclass(frozen=True)
class TokenVerifier:
    """Kuzet's own tokens, and (when configured) the identity provider's."""

    keys: KeyRing
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    max_ttl_s: int = DEFAULT_MAX_TTL_S
    oidc: OidcVerifier | None = None

    def is_external(self, token: str) -> bool:
        """True when the token claims the identity provider as issuer (verify in a thread)."""
        if self.oidc is None:
            return False
        try:
            return unverified_claims(token).get("iss") == self.oidc.issuer
        except InvalidToken:
            return False

    def verify(self, token: str, now: float | None = None) -> Principal:
        if self.oidc is not None and self.is_external(token):
            return self.oidc.verify(token, now)
        return verify_token(self.keys, token, now, issuer=self.issuer, audience=self.audience,
                            max_ttl_s=self.max_ttl_s)
