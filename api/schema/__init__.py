"""The Strawberry schema: queries, mutations, the live subscription, and request limits."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from api.config import ApiConfig
from api.errors import (
    ApiError,
    AuthError,
    SlowConsumer,
    TooMany,
    ViewForbidden,
    ViewUnavailable,
)
from api.metrics import OperationMetrics
from api.schema.broadcast import SharedEventExecutor
from api.schema.limits import RequestLimits, limit_rules
from api.schema.mutation import Mutation
from api.schema.query import Query
from api.schema.subscription import Subscription

__all__ = ["ERROR_CODES", "KuzetSchema", "build_schema", "error_code"]

log = logging.getLogger("kuzet.api")


class KuzetSchema(strawberry.Schema):
    """Strawberry's schema, logging the API's own refusals (`ApiError`: caps, bad cursors,
    forbidden views, expired tokens) in one line at INFO instead of a traceback at ERROR."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        unexpected = []
        for error in errors:
            error.extensions = {**(error.extensions or {}), "code": error_code(error)}
            if isinstance(error.original_error, ApiError):
                log.info("refused: %s", error.message)
            else:
                unexpected.append(error)
        super().process_errors(unexpected, execution_context)


ERROR_CODES: tuple[tuple[type[Exception], str], ...] = (
    (AuthError, "UNAUTHENTICATED"), (ViewForbidden, "FORBIDDEN"),
    (ViewUnavailable, "VIEW_UNAVAILABLE"), (TooMany, "RATE_LIMITED"),
    (SlowConsumer, "SLOW_CONSUMER"), (ApiError, "BAD_REQUEST"),
)
"""Stable machine-readable codes (`extensions.code`) by error class, first match wins: any
client localises by them (the console's catalogues have an `error.<CODE>` for each)."""


def error_code(error: GraphQLError) -> str:
    """The code of one GraphQL error: by the API's error class; a document refused by parsing
    or validation (limits included) is BAD_REQUEST; anything else INTERNAL."""
    original = error.original_error
    if original is None:
        return "BAD_REQUEST"
    for cls, code in ERROR_CODES:
        if isinstance(original, cls):
            return code
    return "INTERNAL"


def build_schema(config: ApiConfig) -> strawberry.Schema:
    """The schema with depth, token and alias limits from `config`; subscription events are
    executed once per payload and selection (`api.schema.broadcast`). Documents are parsed
    and validated once per text and rule set (bounded LRU caches): a flood of identical
    subscriptions costs one validation, not one each."""
    rules = limit_rules(config)
    return KuzetSchema(
        query=Query, mutation=Mutation, subscription=Subscription,
        execution_context_class=SharedEventExecutor,
        extensions=[lambda: RequestLimits(config, rules), lambda: ParserCache(maxsize=256),
                    lambda: ValidationCache(maxsize=256), OperationMetrics],
    )
