"""JSON Schemas of the records other systems publish to Kuzet, generated from the contract.

`detection_schema()` (kuzet.detections.v1), `health_schema()` (kuzet.health.v1) and
`dead_letter_schema()` (kuzet.detections.dlq.v1) are built from the same constants and enums the
validators use, and published in docs/schemas (`kuzet event-schemas` writes them; a test keeps
them current and checks that the schema and `validate_detection_dict` agree on generated
records). JSON Schema cannot say everything the contract checks — lone surrogates, non-finite
numbers, 64-bit integers, nesting depth, a plate with no letter or digit, the clock skew — so
those are stated in `description`s; the validator stays the authority.
"""

from __future__ import annotations

from typing import Any

from domain.detection import MAX_APPEAL_TEXT, MAX_RECORD_BYTES, REQUIRED_ATTRIBUTES
from domain.health import HealthStatus
from domain.kinds import Kind, SourceKind, Status
from domain.validation import MAX_DEPTH, MAX_YEAR, MIN_YEAR

__all__ = ["appeal_status_schema", "dead_letter_schema", "detection_schema", "health_schema",
           "record_schemas"]

_BASE = "https://kuzet.dev/schemas"
_ID = 128
"""Longest id the contract accepts (`FieldChecker.text`'s default)."""


def _ident(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": _ID, "pattern": r"\S",
            "description": description + " (no control or format characters)"}


_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"


def _instant(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "pattern": _RFC3339,
            "description": f"{description}: RFC 3339 with a UTC offset, years "
                           f"{MIN_YEAR}..{MAX_YEAR}"}


def _unit(name: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": 1, "description": name}


def detection_schema() -> dict[str, Any]:
    """The detection record (`domain.detection`)."""
    per_kind = [{"if": {"properties": {"kind": {"const": kind.value}}, "required": ["kind"]},
                 "then": {"required": ["attributes"],
                          "properties": {"attributes": {"required": list(names)}}}}
                for kind, names in REQUIRED_ATTRIBUTES.items()]
    per_kind.append({"if": {"properties": {"kind": {"const": Kind.CANTEEN_COUNT.value}},
                            "required": ["kind"]}, "then": {"required": ["site_id"]}})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE}/detection.v1.json",
        "title": "Detection record on kuzet.detections.v1 (key: source_id)",
        "description": (
            f"One UTF-8 JSON object per message, at most {MAX_RECORD_BYTES} bytes, no byte-order "
            f"mark. Anywhere in it: no lone UTF-16 surrogates, no non-finite numbers, no integer "
            f"beyond 64 bits, no nesting deeper than {MAX_DEPTH}. observed_at must also lie "
            "within the deployment's skew of the processing time (default 5 min ahead, 7 days "
            "behind). A record that fails goes to kuzet.detections.dlq.v1 with the reason."),
        "type": "object",
        "required": ["detection_id", "source_id", "source_kind", "kind", "confidence",
                     "observed_at"],
        "properties": {
            "detection_id": {"type": "string", "format": "uuid",
                             "description": "unique per detection: the idempotency key; the "
                                            "same id with other content is refused"},
            "source_id": _ident("the camera, dash-cam or sensor"),
            "source_kind": {"enum": [k.value for k in SourceKind]},
            "kind": {"enum": [k.value for k in Kind]},
            "confidence": _unit("the detector's confidence"),
            "observed_at": _instant("when the frame or signal was captured"),
            "site_id": _ident("the place (school, yard, market): correlation joins its cameras"),
            "location": {"type": "object", "required": ["lat", "lon"], "properties": {
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180}}},
            "bbox": {"type": "array", "minItems": 4, "maxItems": 4,
                     "items": {"type": "number", "minimum": 0, "maximum": 1},
                     "description": "[x, y, w, h] normalised to the frame; x+w and y+h <= 1"},
            "attributes": {
                "type": "object", "maxProperties": 32,
                "description": "kind-specific values; personal ones (subject_id, plate) are "
                               "sealed at rest",
                "properties": {
                    "count": {"type": "integer", "minimum": 0},
                    "similarity": _unit("face similarity of a watch-list match"),
                    "subject_id": _ident("a watch-list subject"),
                    "plate": {**_ident("a number plate"),
                              "description": "a number plate; at least one letter or digit"},
                    "meal": _ident("a canteen meal (breakfast, lunch...)"),
                    "category": _ident("what a citizen's appeal is about (illegal_dump, "
                                       "road_defect, broken_light...)"),
                    "appeal_id": _ident("the appeal portal's id of the appeal"),
                    "text": {"type": "string", "maxLength": MAX_APPEAL_TEXT,
                             "description": "the appeal's text (personal data: sealed at rest)"},
                }},
            "snapshot": {
                "type": "object", "required": ["uri"],
                "description": "the evidence image: its reference and (recommended) the sha256 "
                               "of the file's bytes; without a digest the image is referenced "
                               "but cannot be verified or served",
                "properties": {
                    "uri": {"type": "string", "minLength": 1, "maxLength": 1024},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}},
            "model": {"type": "object", "required": ["name", "version"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": _ID},
                "version": {"type": "string", "minLength": 1, "maxLength": _ID}}},
        },
        "allOf": per_kind,
    }


def health_schema() -> dict[str, Any]:
    """The source-health record (`domain.health`)."""
    text = {"type": "string", "minLength": 1, "maxLength": 512}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE}/health.v1.json",
        "title": "Source health record on kuzet.health.v1 (key: source_id)",
        "description": "heartbeat every few seconds while a source delivers frames; "
                       "source_offline / source_online when it stops or returns. A source "
                       "without frames past the deployment's threshold becomes a "
                       "camera_offline incident (kuzet cameras watch).",
        "type": "object",
        "required": ["source_id", "source_kind", "status", "observed_at"],
        "properties": {
            "source_id": text, "source_kind": {"enum": [k.value for k in SourceKind]},
            "status": {"enum": [s.value for s in HealthStatus]},
            "observed_at": _instant("when the statement was made"),
            "site_id": text,
            "frames": {"type": "integer", "minimum": 0,
                       "description": "frames read since the previous record"},
            "detections": {"type": "integer", "minimum": 0,
                           "description": "records published since the previous record"},
            "reason": text, "detector": text,
        },
    }


def dead_letter_schema() -> dict[str, Any]:
    """A dead letter on kuzet.detections.dlq.v1 (docs/contract.md)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE}/dead-letter.v1.json",
        "title": "Dead letter on kuzet.detections.dlq.v1 (key: the original key)",
        "type": "object",
        "required": ["reason", "errors", "source", "original", "original_size",
                     "original_sha256"],
        "properties": {
            "reason": {"type": "string"},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["field", "value", "reason"],
                "properties": {"field": {"type": "string"}, "value": {"type": "string"},
                               "reason": {"type": "string"}}}},
            "stage": {"type": "string",
                      "description": "route, correlate, relay, mqtt, http: who refused it"},
            "error_type": {"type": "string"},
            "source": {"type": "object", "description": "topic/partition/offset, log_position "
                                                        "or transport"},
            "original": {"type": "string", "contentEncoding": "base64",
                         "description": "the original bytes, cut at 64 KiB"},
            "original_size": {"type": "integer", "minimum": 0},
            "original_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        },
    }


def appeal_status_schema() -> dict[str, Any]:
    """A status update for the appeal portal on kuzet.appeals.status.v1 (streams.appeal_feed)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE}/appeal-status.v1.json",
        "title": "Appeal status on kuzet.appeals.status.v1 (key: appeal_id)",
        "description": "Sent when an appeal joins an incident (with the incident's status) and "
                       "on every status change of that incident. At least once: drop "
                       "duplicates by event_id.",
        "type": "object",
        "required": ["appeal_id", "incident_id", "status", "event_type", "event_id", "at",
                     "sequence"],
        "properties": {
            "appeal_id": {"type": "string"},
            "incident_id": {"type": "string", "format": "uuid"},
            "status": {"enum": [s.value for s in Status]},
            "event_type": {"type": "string", "description": "the incident event's name "
                                                            "(Acknowledged, Resolved...)"},
            "event_id": {"type": "string", "format": "uuid",
                         "description": "the incident event's CloudEvents id"},
            "at": {"type": "string", "format": "date-time"},
            "sequence": {"type": "string", "pattern": "^[1-9][0-9]*$",
                         "description": "the notification-log position (order)"},
        },
    }


def record_schemas() -> dict[str, dict[str, Any]]:
    """File stem → schema, as published in docs/schemas."""
    return {"detection.v1": detection_schema(), "health.v1": health_schema(),
            "dead-letter.v1": dead_letter_schema(), "appeal-status.v1": appeal_status_schema()}
