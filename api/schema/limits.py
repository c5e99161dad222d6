"""Document limits (depth, aliases, tokens) and introspection, as one schema extension.

Every document is limited, introspection included: the depth rule here counts `__schema`,
`__type` and their fields like any other (Strawberry's own depth limiter skips them).
Introspection itself is refused outside dev mode, unless `introspection_for_admin` allows it
for admins. Strawberry calls every schema extension for every subscription event it delivers
(for its results), so everything shares one extension instead of costing several calls per
event per subscriber.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxAliasesLimiter

from api.auth import Role
from api.config import ApiConfig

__all__ = ["RequestLimits", "depth_rule", "limit_rules"]


def _depth(node: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
           seen: frozenset[str]) -> int:
    if node is None:
        return 0
    deepest = 0
    for sel in node.selections:
        if isinstance(sel, FieldNode):
            deepest = max(deepest, 1 + _depth(sel.selection_set, fragments, seen)
                          if sel.selection_set else 1)
        elif isinstance(sel, InlineFragmentNode):
            deepest = max(deepest, _depth(sel.selection_set, fragments, seen))
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name in seen or name not in fragments:
                continue  # cycles and unknown fragments are other rules' errors
            deepest = max(deepest, _depth(fragments[name].selection_set, fragments,
                                          seen | {name}))
    return deepest


def depth_rule(max_depth: int) -> type[ASTValidationRule]:
    """A rule refusing operations nested deeper than `max_depth` fields (introspection too)."""

    class DepthLimit(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode,
                                       *_: Any) -> None:
            doc = self.context.document
            fragments = {d.name.value: d for d in doc.definitions
                         if isinstance(d, FragmentDefinitionNode)}
            depth = _depth(node.selection_set, fragments, frozenset())
            if depth > max_depth:
                name = node.name.value if node.name else "anonymous"
                self.report_error(GraphQLError(
                    f"'{name}' exceeds maximum operation depth of {max_depth}", [node]))

    return DepthLimit


def limit_rules(config: ApiConfig) -> list[type[ASTValidationRule]]:
    """The depth and alias rules, made once per schema: graphql-core caches its visitor
    dispatch per rule class, so a class made per request would cost ~10 ms per document."""
    return [depth_rule(config.max_query_depth),
            *MaxAliasesLimiter(max_alias_count=config.max_aliases).validation_rules]


class RequestLimits(AddValidationRules):
    """Depth (introspection included) and alias limits as validation rules, introspection by
    role, and the token limit as a parser option."""

    def __init__(self, config: ApiConfig, rules: list[type[ASTValidationRule]]) -> None:
        super().__init__(rules)
        self.config = config
        self.max_tokens = config.max_query_tokens

    def _introspection_allowed(self) -> bool:
        if self.config.dev_mode:
            return True
        if not self.config.introspection_for_admin:
            return False
        principal = getattr(self.execution_context.context, "principal", None)
        return principal is not None and principal.role is Role.ADMIN

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        if not self._introspection_allowed():
            self.validation_rules = [*self.validation_rules, NoIntrospection]
        yield from super().on_operation()


class NoIntrospection(NoSchemaIntrospectionCustomRule):
    """graphql-core's rule, with a message that says why."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)

    def report_error(self, error: GraphQLError) -> None:
        super().report_error(GraphQLError(
            "introspection is disabled outside dev mode" , error.nodes))
