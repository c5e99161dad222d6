"""JSON Schemas of the relayed events, generated from the event classes (Incident, Silence,
RuleActivation).

`event_schemas()` maps each CloudEvents `type` to a JSON Schema (draft 2020-12) of the whole
envelope, whose `data` is derived from the event class's type hints: adapter writers get a
schema per event type that cannot drift from the code (`kuzet event-schemas --out docs/schemas`).

Personal fields (`domain.privacy` tags) never travel in the clear: each personal string is a
sealed-value object (decrypted, while its key lives, by the agency adapter), or, on the
situation centre's topic, a whole field is a `masked:` pseudonym; agencies whose policy drops a
field do not get it at all.

A silence's events (`SILENCE_EVENT_NAMES`) and rules activations travel on the situation
centre's topic only (`streams.relay.FULL_STREAM_ONLY`), with no personal field: a silence names
a camera, site, district or kind, never a person; its reason is a supervisor's operational
note, stored and relayed as written; an activation names a rules version, its digest, its
author and the file it was read from.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from domain.incident import Incident
from domain.log import ENVELOPE_FIELDS
from domain.privacy import SEALED, tagged_fields
from domain.rule_versions import RuleActivation
from domain.silences import Silence, SilenceScope
from streams.relay import (
    FULL_STREAM_ONLY,
    INCIDENT,
    RULE_ACTIVATION,
    SILENCE,
    SILENCE_EVENTS,
    event_type,
)

__all__ = ["EVENT_NAMES", "SEALED_VALUE", "SILENCE_EVENT_NAMES", "event_schemas", "json_schema"]

EVENT_NAMES = tuple(name for name, value in vars(Incident).items()
                    if isinstance(value, type) and issubclass(value, Incident.Event)
                    and name not in {"Event", "Created"})
"""Incident's own event classes in definition order (`Event`, `Created`: the library's bases)."""
SILENCE_EVENT_NAMES = SILENCE_EVENTS
"""The relayed Silence events (full stream only)."""
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


SEALED_VALUE: dict[str, Any] = {
    "type": "object",
    "description": "A personal value sealed under its subject's data key (AES-256-GCM); "
                   "`k` is the key id, a stable pseudonym of the subject.",
    "required": [SEALED, "k", "f", "c"],
    "properties": {SEALED: {"const": 1}, "k": {"type": "string"}, "f": {"type": "string"},
                   "c": {"type": "string", "contentEncoding": "base64"}},
}
SNAPSHOT_REF: dict[str, Any] = {
    "type": "object",
    "description": "One evidence image: `ref` (its URI, personal: sealed) and `sha256` (the "
                   "digest of the file's bytes, in the clear; null when the detector sent none)",
    "required": ["ref", "sha256"],
    "properties": {"ref": SEALED_VALUE,
                   "sha256": {"anyOf": [{"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                        {"type": "null"}]}},
}
_MASKED = {"type": "string", "pattern": "^masked:",
           "description": "The situation centre's pseudonym of the whole field"}


def _sealed(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every string in it travelling as a sealed value."""
    if schema.get("type") == "string":
        return SEALED_VALUE
    if "anyOf" in schema:
        return {"anyOf": [_sealed(s) for s in schema["anyOf"]]}
    if "items" in schema:
        return {**schema, "items": _sealed(schema["items"])}
    if schema.get("type") == "object":
        return {**schema, "additionalProperties": SEALED_VALUE}
    return schema


def _data_schema(name: str) -> dict[str, Any]:
    hints = typing.get_type_hints(getattr(Incident, name))
    personal = tagged_fields(name)
    props = {k: json_schema(v) for k, v in hints.items() if k not in _SKIP}
    for field in personal.keys() & props.keys():
        sealed = ({"type": "array", "items": SNAPSHOT_REF} if field == "snapshots"
                  else _sealed(props[field]))
        forms = [sealed, _MASKED]
        if field == "incident_key":  # personal only when keyed by a subject or a plate
            forms.append({"type": "string", "pattern": "^[a-z_]+:(site|source|cell)=",
                          "description": "a correlation key without personal data"})
        props[field] = {"anyOf": forms}
    return {"type": "object", "properties": props,
            "required": sorted(props.keys() - personal.keys())}


_CLASSES: dict[str, type] = {SILENCE: Silence, RULE_ACTIVATION: RuleActivation}
"""The aggregate class of each `FULL_STREAM_ONLY` aggregate name."""


def _plain_data_schema(aggregate: str, name: str) -> dict[str, Any]:
    """`data` of an event without personal fields: every field required, as typed."""
    hints = typing.get_type_hints(getattr(_CLASSES[aggregate], name))
    props = {k: json_schema(v) for k, v in hints.items() if k not in _SKIP}
    if "scope" in props:
        props["scope"] = {"enum": [s.value for s in SilenceScope]}
    return {"type": "object", "properties": props, "required": sorted(props)}


def _envelope(aggregate: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
    kind = event_type(name, aggregate)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://kuzet.dev/schemas/{kind}.json",
        "title": f"{aggregate}.{name} as a CloudEvents 1.0 envelope",
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
            "data": data,
        },
    }


def event_schemas() -> dict[str, dict[str, Any]]:
    """CloudEvents `type` → JSON Schema of the full-stream envelope (agency topics: a subset
    of the incident events; nothing of `FULL_STREAM_ONLY`)."""
    out = {event_type(n): _envelope(INCIDENT, n, _data_schema(n)) for n in EVENT_NAMES}
    out.update({event_type(n, a): _envelope(a, n, _plain_data_schema(a, n))
                for a, names in FULL_STREAM_ONLY.items() for n in names})
    return out
