"""JSON Schemas of the relayed incident events, generated from the Incident event classes.

`event_schemas()` maps each CloudEvents `type` to a JSON Schema (draft 2020-12) of the whole
envelope, whose `data` is derived from the event class's type hints: adapter writers get a
schema per event type that cannot drift from the code (`kuzet event-schemas --out docs/schemas`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from domain.incident import Incident
from domain.log import ENVELOPE_FIELDS
from streams.relay import event_type

__all__ = ["EVENT_NAMES", "event_schemas", "json_schema"]

EVENT_NAMES = tuple(name for name, value in vars(Incident).items()
                    if isinstance(value, type) and issubclass(value, Incident.Event)
                    and name not in {"Event", "Created"})
"""Incident's own event classes in definition order (`Event`, `Created`: the library's bases)."""
_SKIP = ENVELOPE_FIELDS | {"originator_id_type"}


def json_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of one Python type hint as the relay serialises it."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [json_schema(a) for a in typing.get_args(hint)]}
    simple = {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
              bool: {"type": "boolean"}, type(None): {"type": "null"},
              datetime: {"type": "string", "format": "date-time"}}
    if hint in simple:
        return simple[hint]
    if origin in (list, Sequence) or hint in (list, Sequence):
        args = typing.get_args(hint)
        return {"type": "array", **({"items": json_schema(args[0])} if args else {})}
    if origin in (dict, Mapping):
        args = typing.get_args(hint)
        return {"type": "object",
                **({"additionalProperties": json_schema(args[1])}
                   if args and args[1] is not Any else {})}
    return {}


def _data_schema(name: str) -> dict[str, Any]:
    hints = typing.get_type_hints(getattr(Incident, name))
    props = {k: json_schema(v) for k, v in hints.items() if k not in _SKIP}
    return {"type": "object", "properties": props, "required": sorted(props)}


def event_schemas() -> dict[str, dict[str, Any]]:
    """CloudEvents `type` → JSON Schema of the full-stream envelope (agency topics: a subset)."""
    out = {}
    for name in EVENT_NAMES:
        kind = event_type(name)
        out[kind] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://kuzet.dev/schemas/{kind}.json",
            "title": f"Incident.{name} as a CloudEvents 1.0 envelope",
            "type": "object",
            "required": ["specversion", "id", "type", "source", "subject", "time", "sequence",
                         "datacontenttype", "data"],
            "properties": {
                "specversion": {"const": "1.0"}, "id": {"type": "string", "format": "uuid"},
                "type": {"const": kind}, "source": {"type": "string", "format": "uri-reference"},
                "subject": {"type": "string", "format": "uuid"},
                "time": {"type": "string", "format": "date-time"},
                "sequence": {"type": "string", "pattern": "^[1-9][0-9]*$"},
                "datacontenttype": {"const": "application/json"},
                "kuzetversion": {"type": "integer", "minimum": 1},
                "data": _data_schema(name),
            },
        }
    return out
