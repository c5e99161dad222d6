"""Errors raised by the API package.

    ApiError
    ├── ApiConfigError      the API configuration is unusable (short secret…)
    ├── AuthError           a bearer token is missing, malformed, badly signed or expired
    │   ├── MissingToken
    │   ├── InvalidToken    (also: a role acting for an agency it cannot, a too long lifetime)
    │   ├── ExpiredToken
    │   └── RevokedToken
    ├── TooMany             a per-principal or per-address cap on connections/subscriptions
    ├── SlowConsumer        a subscriber fell `subscriber_queue` events behind and was dropped
    ├── BadCursor           a pagination or subscription cursor cannot be decoded
    ├── InvalidFilter       a query's filter or page size is out of range
    ├── ViewForbidden       the caller's role may not read an agency view
    └── ViewUnavailable     agency views are not configured or their store cannot be reached
"""

from __future__ import annotations

__all__ = [
    "ApiConfigError", "ApiError", "AuthError", "BadCursor", "ExpiredToken", "InvalidFilter",
    "InvalidToken", "MissingToken", "RevokedToken", "SlowConsumer", "TooMany", "ViewForbidden",
    "ViewUnavailable",
]


class ApiError(Exception):
    """Base of every error the API raises on purpose."""


class ApiConfigError(ApiError):
    """Raised by `ApiConfig` when a setting cannot work (e.g. a short token secret)."""


class AuthError(ApiError):
    """Base of authentication failures; the message is safe to show to the client."""


class MissingToken(AuthError):
    """Raised when a request carries no bearer token."""

    def __init__(self) -> None:
        super().__init__("missing bearer token (Authorization: Bearer <token>)")


class InvalidToken(AuthError):
    """Raised when a token is malformed, badly signed, or names an unknown role."""


class ExpiredToken(AuthError):
    """Raised when a token's `exp` is in the past."""

    def __init__(self, expired_at: int) -> None:
        self.expired_at = expired_at
        super().__init__(f"token expired at {expired_at} (unix time)")


class RevokedToken(AuthError):
    """Raised when a token's id (`jti`) is on the revocation list kept in the event store."""

    def __init__(self) -> None:
        super().__init__("token revoked")


class TooMany(ApiError):
    """Raised when a caller is over a cap: connections or subscriptions per principal or per
    address (the message names the cap and its value)."""


class SlowConsumer(ApiError):
    """Raised into a subscription whose queue overflowed: the client must resume by cursor."""

    def __init__(self, last_cursor: str | None) -> None:
        self.last_cursor = last_cursor
        super().__init__(
            f"subscriber too slow, dropped; resubscribe with after: {last_cursor!r} to resume"
        )


class BadCursor(ApiError):
    """Raised when a cursor is not one this API issued."""

    def __init__(self, cursor: str) -> None:
        super().__init__(f"bad cursor {cursor[:40]!r}")


class InvalidFilter(ApiError):
    """Raised when a filter names an unknown status or a page size is out of range."""


class ViewForbidden(ApiError):
    """Raised when the caller's role may not read the agency view it asked for."""

    def __init__(self, role: str, view: str) -> None:
        super().__init__(f"role {role} may not read the {view} view")


class ViewUnavailable(ApiError):
    """Raised when no read-model store is configured, or it cannot be opened or reached."""
