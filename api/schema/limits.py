"""Query limits (depth, aliases, tokens) as one schema extension.

Strawberry calls every schema extension for every subscription event it delivers (for its
results), so the three limits share one extension instead of costing three calls per event
per subscriber; the rules themselves are Strawberry's.
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, QueryDepthLimiter

from api.config import ApiConfig

__all__ = ["RequestLimits"]


class RequestLimits(AddValidationRules):
    """Depth and alias limits as validation rules; the token limit as a parser option."""

    def __init__(self, config: ApiConfig) -> None:
        super().__init__([
            *QueryDepthLimiter(max_depth=config.max_query_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=config.max_aliases).validation_rules,
        ])
        self.max_tokens = config.max_query_tokens

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        yield from super().on_operation()
