"""The AsyncAPI 3 document of every Kafka topic Kuzet reads or writes (docs/asyncapi.yaml).

Built from the topic names (`domain.topics`), the relayed event types (`streams.schemas`) and
the record schemas (`domain.record_schemas`), so it cannot drift from the code; `kuzet
event-schemas` writes it beside the JSON Schemas and a test keeps it current. Payloads are
`$ref`s to the schema files in docs/schemas.
"""

from __future__ import annotations

import json
from typing import Any

from domain.kinds import Agency
from domain.topics import (
    APPEAL_STATUS,
    CORRELATION,
    DETECTIONS,
    DETECTIONS_DLQ,
    HEALTH,
    INCIDENT_EVENTS,
)
from domain.topics import agency_topic as topic_of
from streams.relay import FULL_STREAM_ONLY, event_type
from streams.schemas import EVENT_NAMES

__all__ = ["asyncapi_document", "asyncapi_yaml"]


def _message(name: str, title: str, schema_file: str, key: str) -> dict[str, Any]:
    return {"name": name, "title": title, "contentType": "application/json",
            "payload": {"$ref": f"./schemas/{schema_file}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": key}}}}


def _channel(address: str, description: str, messages: dict[str, Any]) -> dict[str, Any]:
    return {"address": address, "description": description, "messages": messages}


def _incident_messages() -> dict[str, Any]:
    out = {}
    for name in EVENT_NAMES:
        kind = event_type(name)
        out[name] = _message(kind, f"Incident.{name} (CloudEvents 1.0, structured mode)",
                             f"{kind}.json", "the incident id")
    return out


_KEYS = {"Silence": "the silence id", "RuleActivation": "the activation id"}


def _full_stream_only_messages() -> dict[str, Any]:
    """Silences' and rules activations' messages: `SilenceCreated`, ... (names kept apart
    from the incident's)."""
    return {f"{aggregate}{name}": _message(
        kind := event_type(name, aggregate),
        f"{aggregate}.{name} (CloudEvents 1.0, structured mode)", f"{kind}.json",
        _KEYS[aggregate]) for aggregate, names in FULL_STREAM_ONLY.items() for name in names}


def _channels() -> dict[str, Any]:
    detection = _message("detection", "A detection record", "detection.v1.json", "source_id")
    channels = {
        "detections": _channel(DETECTIONS, "Raw detections from detectors, sensors and "
                               "citizens' appeals; retention 3 days.",
                               {"detection": detection}),
        "deadLetters": _channel(DETECTIONS_DLQ, "Records a stage refused, with the reason and "
                                "the original bytes; retention 30 days.", {"deadLetter": _message(
                                    "dead-letter", "A dead letter", "dead-letter.v1.json",
                                    "the original record's key")}),
        "correlation": _channel(CORRELATION, "Internal: valid detections re-keyed by "
                                "correlation shard (site, subject, plate, cell); retention 1 "
                                "day. Not for other systems.",
                                {"detection": {**detection, "bindings": {"kafka": {"key": {
                                    "type": "string", "description": "the shard"}}}}}),
        "health": _channel(HEALTH, "Per-source heartbeats and offline/online statements; "
                           "retention 1 day.", {"health": _message(
                               "health", "A source health record", "health.v1.json",
                               "source_id")}),
        "incidentEvents": _channel(INCIDENT_EVENTS, "The situation centre's full stream: every "
                                   "stored incident event, full data (personal values "
                                   "sealed), and every silence's creation, early end and "
                                   "held-back detections, and every rules activation; drop "
                                   "duplicates by CloudEvents id.",
                                   {**_incident_messages(), **_full_stream_only_messages()}),
    }
    channels["appealStatus"] = _channel(
        APPEAL_STATUS, "For the appeal portal: an appeal's incident status, when it joins and "
        "on every change.", {"appealStatus": _message(
            "appeal-status", "An appeal's status", "appeal-status.v1.json", "appeal_id")})
    for agency in Agency:
        channels[f"agency_{agency.value}"] = _channel(
            topic_of(agency), f"The events of incidents routed to {agency.value}, minimised "
            "by its policy (docs/events.md).", _incident_messages())
    return channels


def asyncapi_document(version: str) -> dict[str, Any]:
    """The whole document; `version` is Kuzet's release."""
    channels = _channels()
    receive = ("detections", "health")
    operations = {}
    for name, channel in channels.items():
        action = "receive" if name in receive else "send"
        operations[f"{action}_{name}"] = {
            "action": action, "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{m}"}
                         for m in channel["messages"]]}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Kuzet", "version": version,
                 "description": "Event-sourced incident management for city video analytics: "
                                "what Kuzet reads (receive) and writes (send) on Kafka. "
                                "Delivery is at least once everywhere."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
    }


def asyncapi_yaml() -> str:
    """docs/asyncapi.yaml's text (the package's version)."""
    from importlib.metadata import PackageNotFoundError, version

    import yaml

    try:
        release = version("kuzet")
    except PackageNotFoundError:  # running from a source tree that was never installed
        release = "0"
    header = "# Generated by `kuzet event-schemas` from the code (streams/asyncapi.py).\n"
    document = json.loads(json.dumps(asyncapi_document(release)))  # no shared nodes: no anchors
    text: str = yaml.safe_dump(document, sort_keys=False, width=100)
    return header + text
