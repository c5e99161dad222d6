"""Typed spellings of `strawberry.field(description=...)` and `strawberry.subscription(...)`.

Strawberry's overload for a keyword-only call returns `Any`, so mypy sees every resolver it
decorates as untyped; these return the same decorator typed as identity on the resolver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry

__all__ = ["described", "described_subscription"]

_F = TypeVar("_F", bound=Callable[..., Any])


def described(description: str) -> Callable[[_F], _F]:
    """`@strawberry.field(description=description)`, typed."""
    decorate: Callable[[_F], _F] = strawberry.field(description=description)
    return decorate


def described_subscription(description: str) -> Callable[[_F], _F]:
    """`@strawberry.subscription(description=description)`, typed."""
    decorate: Callable[[_F], _F] = strawberry.subscription(description=description)
    return decorate
