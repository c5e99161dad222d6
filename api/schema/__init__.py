"""The Strawberry schema: queries, mutations, the live subscription, and request limits."""

from __future__ import annotations

import strawberry

from api.config import ApiConfig
from api.schema.broadcast import SharedEventExecutor
from api.schema.limits import RequestLimits
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
        extensions=[lambda: RequestLimits(config)],
    )
