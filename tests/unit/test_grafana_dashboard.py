"""The Grafana dashboard (docs/grafana/kuzet.json) charts only metrics the code defines."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from projections.metrics import LagMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "kuzet.json"
METRIC_MODULES = ("streams.metrics", "streams.camera_watch", "detectors.metrics",
                  "adapters.inbound", "adapters.metrics", "api.metrics")
"""Modules that register their metrics in the default registry on import."""
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("", "_sum", "_count", "_created"), "info": ("_info",)}


def _sample_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a family can expose, even a labelled one with no samples yet."""
    names = set()
    for family in registry.collect():
        names |= {family.name + s for s in SUFFIXES.get(family.type, ("",))}
    return names


def _defined() -> set[str]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    own = CollectorRegistry()  # LagMetrics registers when a projections process starts
    LagMetrics(registry=own)
    return {n for n in _sample_names(REGISTRY) | _sample_names(own) if n.startswith("kuzet_")}


def _expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                yield value
            else:
                yield from _expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)


def test_every_metric_a_panel_charts_is_defined_in_the_code() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {m for e in _expressions(dashboard) for m in re.findall(r"\bkuzet_[a-z0-9_]+", e)}
    defined = _defined()
    assert used, "the dashboard charts no kuzet_ metric"
    assert not used - defined, f"charted but defined nowhere: {sorted(used - defined)}"


def test_every_defined_family_has_a_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    text = " ".join(_expressions(dashboard))
    families = {re.sub(r"_(total|created|bucket|sum|count)$", "", n) for n in _defined()}
    missing = {f for f in families if not re.search(rf"\b{f}(_total|_bucket|_sum|_count)?\b",
                                                    text)}
    assert not missing, f"metrics with no panel: {sorted(missing)}"


def test_panels_have_unique_ids_and_a_prometheus_datasource() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"]["type"] == "prometheus", panel["title"]
            assert panel["targets"], panel["title"]
