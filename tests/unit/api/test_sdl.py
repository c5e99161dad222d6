"""docs/schema.graphql is the API's schema as it is (regenerate: `kuzet event-schemas`)."""

from __future__ import annotations

from pathlib import Path

from api.sdl import schema_sdl
from tests.helpers import default_rules

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_the_published_sdl_is_current() -> None:
    published = (DOCS / "schema.graphql").read_text()
    assert published == schema_sdl(default_rules())
    for name in ("closeIncident", "escalateIncident", "incidentUpdates", "personalDataAccess"):
        assert name in published
