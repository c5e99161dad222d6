"""Kuzet's GraphQL API: schema, auth, subscription fan-out and the operator console.

Imports `domain` only (and `projections` for agency views); the composition root builds an
`ApiConfig` and calls `create_app(config)`.
"""

from api.app import create_app
from api.auth import Principal, Role
from api.config import ApiConfig
from api.tokens import KeyRing, issue_token, verify_token

__all__ = ["ApiConfig", "KeyRing", "Principal", "Role", "create_app", "issue_token",
           "verify_token"]
