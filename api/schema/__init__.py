"""The Strawberry schema: queries, mutations, the live subscription, and request limits."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from api.config import ApiConfig
from api.schema.broadcast import SharedEventExecutor
from api.schema.mutation import Mutation
from api.schema.query import Query
from api.schema.subscription import Subscription

__all__ = ["build_schema"]


def build_schema(config: ApiConfig) -> strawberry.Schema:
    """The schema with depth, token and alias limits from `config`; subscription events are
    executed once per payload and selection (`api.schema.broadcast`)."""
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription,
        execution_context_class=SharedEventExecutor,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=config.max_query_depth),
            lambda: MaxTokensLimiter(max_token_count=config.max_query_tokens),
            lambda: MaxAliasesLimiter(max_alias_count=config.max_aliases),
        ],
    )
