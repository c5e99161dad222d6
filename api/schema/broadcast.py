"""Subscription events executed once per selection, not once per subscriber.

Every subscriber of one audience gets the same payload object for an event
(`Update.payload`). The schema's execution context, `SharedEventExecutor`, executes an event
whose payload is `Shared` once per distinct selection — the operation and its fragments as
text, and the values of the variables the selection reads — and hands that one result to every other
subscriber with the same selection. `NextFrames` then encodes that result's JSON once for all
of them: per subscriber, only the `next` envelope (its operation id) and the socket write
remain. Fields below a `Shared` payload must therefore depend on the
payload alone, never on `info.context`: whatever differs per audience is in the payload.

Live updates skip even that: `LiveFrames` builds an event's whole `next` frame (WebSocket
header and JSON, `api.sockets`) once per audience, selection and operation id, from the same
shared result, and the subscription writes those bytes to its socket itself. An event whose
result carries errors is left to the normal path (strawberry formats and logs them). The
schema's extensions add nothing to results (`get_results`), so a frame carries `data` only,
as strawberry's would.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from contextvars import ContextVar
from typing import Any

from graphql import FieldNode, Node, Visitor, print_ast, visit
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.fanout import Update
from api.sockets import current_operation, text_frame

__all__ = ["LiveFrames", "NextFrames", "Shared", "SharedEventExecutor"]


class Shared:
    """Base of payload objects delivered unchanged to many subscribers."""

    def results(self) -> dict[Hashable, Any]:
        """Execution results per selection (plain attribute: not a GraphQL field)."""
        return self.__dict__.setdefault("_shared_results", {})  # type: ignore[no-any-return]


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: Any, *_: Any) -> None:
        self.names.add(node.name.value)


def _variables_in(nodes: Iterable[Node]) -> set[str]:
    found = _Variables()
    for node in nodes:
        visit(node, found)
    return found.names


_SELECTIONS: OrderedDict[int, tuple[Any, str, list[str]]] = OrderedDict()
"""Per parsed operation (by identity, the node kept so the id is not reused): its text and
the variables its selection reads."""


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, reusing one result per `Shared` payload and selection.

    The first subscriber to reach an event executes it; the others skip both the execution
    and the per-event copy of the executor.
    """

    selection: Hashable = None

    def selection_key(self) -> Hashable:
        """What a per-event result depends on besides the payload (not the root field's
        arguments: the subscription's resolver consumed them, events resolve to themselves).
        The text and the variables read are computed once per parsed document (documents
        are parsed once per text: `ParserCache`), not once per subscription."""
        op = self.operation
        found = _SELECTIONS.get(id(op))
        if found is None or found[0] is not op:
            root = op.selection_set.selections[0]
            below = ([*(root.directives or ()), root.selection_set]
                     if isinstance(root, FieldNode) and root.selection_set is not None
                     else [op.selection_set])
            fragments = list(self.fragment_definitions.values())
            found = (op, "\n".join(map(print_ast, [op, *fragments])),
                     sorted(_variables_in([*below, *fragments])))
            _SELECTIONS[id(op)] = found
            if len(_SELECTIONS) > 256:
                _SELECTIONS.popitem(last=False)
        values = self.variable_values.coerced
        return found[1], repr([(name, values.get(name)) for name in found[2]])

    def build_resolve_info(self, field_def: Any, field_nodes: Any, parent_type: Any,
                           path: Any) -> Any:
        """Also records, in the operation's task, the executor whose subscription resolver
        is about to run (`LiveFrames.current`); per-event copies have a `Shared` root."""
        if (path.prev is None and parent_type is self.schema.subscription_type
                and not isinstance(self.root_value, Shared)):
            _SUBSCRIBING.set(self)
        return super().build_resolve_info(field_def, field_nodes, parent_type, path)

    def build_per_event_executor(self, payload: Any) -> Any:
        if not isinstance(payload, Shared):
            return super().build_per_event_executor(payload)
        if self.selection is None:
            self.selection = self.selection_key()  # once per subscription
        results = payload.results()
        if self.selection not in results:
            found = super().build_per_event_executor(payload).execute_operation(False)
            if self.is_awaitable(found):  # a task can be awaited by every subscriber
                found = asyncio.ensure_future(found)
            results[self.selection] = found
        return _Executed(results[self.selection])


_SUBSCRIBING: ContextVar[SharedEventExecutor | None] = ContextVar("kuzet_subscribing",
                                                                  default=None)
_MISSING = object()


class LiveFrames:
    """Whole `next` frames of one subscription's live updates, shared through the `Update`
    with every subscription of the same audience, selection and operation id."""

    def __init__(self, executor: SharedEventExecutor, operation_id: str,
                 audience: Hashable) -> None:
        self.executor = executor
        if executor.selection is None:
            executor.selection = executor.selection_key()
        self.data_key = (audience, executor.selection)
        self.key = (audience, executor.selection, operation_id)
        self.prefix = f'{{"id":{json.dumps(operation_id)},"type":"next","payload":{{"data":'\
            .encode()

    @classmethod
    def current(cls, audience: Hashable) -> LiveFrames | None:
        """For the subscription resolver running now (None outside a WebSocket operation)."""
        executor, operation = _SUBSCRIBING.get(), current_operation()
        if executor is None or operation is None:
            return None
        return cls(executor, operation, audience)

    async def frame(self, update: Update, payload: Shared) -> bytes | None:
        """`update`'s frame for this subscription; None: deliver it the normal way."""
        found = update.frames.get(self.key, _MISSING)
        if found is _MISSING:
            data = update.frames.get(self.data_key, _MISSING)
            if data is _MISSING:
                data = update.frames[self.data_key] = await self._data(payload)
            found = update.frames[self.key] = (
                None if not isinstance(data, bytes) else text_frame(self.prefix + data + b"}}"))
        return found  # type: ignore[return-value]

    async def _data(self, payload: Shared) -> bytes | None:
        result = self.executor.build_per_event_executor(payload).execute_operation(False)
        if self.executor.is_awaitable(result):
            result = await result
        if result.errors:
            return None
        return json.dumps(result.data, separators=(",", ":")).encode()


class _Executed:
    """A per-event executor whose result is already known (graphql-core's
    `execute_subscription_event` only calls `execute_operation(False)` on it)."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> Any:
        return self.result


class NextFrames:
    """Text of graphql-transport-ws `next` messages, reusing the JSON of their `data`.

    Subscribers of one selection receive the very same `data` object for an event (see
    `SharedEventExecutor`), so its JSON is kept by identity for the last `size` objects seen;
    holding them keeps their ids from being reused while cached.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._texts: OrderedDict[int, tuple[Any, str]] = OrderedDict()

    def __len__(self) -> int:
        """How many `data` texts are held."""
        return len(self._texts)

    def encode(self, message: object) -> str | None:
        """The message's text if it is a `next` carrying data only; None for anything else."""
        if not (isinstance(message, dict) and message.get("type") == "next"
                and message.keys() == {"id", "type", "payload"}):
            return None
        payload = message["payload"]
        if not (isinstance(payload, dict) and payload.keys() == {"data"}):
            return None
        data = payload["data"]
        found = self._texts.get(id(data))
        if found is None or found[0] is not data:
            found = (data, json.dumps(data, separators=(",", ":")))
            self._texts[id(data)] = found
            if len(self._texts) > self.size:
                self._texts.popitem(last=False)
        op = json.dumps(message["id"])
        return f'{{"id":{op},"type":"next","payload":{{"data":{found[1]}}}}}'
