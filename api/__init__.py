"""Kuzet's GraphQL API: schema, auth, subscription fan-out and the operator console.

Imports `domain` only (and `projections` for agency views); the composition root builds an
`ApiConfig` and calls `create_app(config)`.
"""

from api.app import create_app
from api.auth import Principal, Role, issue_token, verify_token
from api.config import ApiConfig

__all__ = ["ApiConfig", "Principal", "Role", "create_app", "issue_token", "verify_token"]
