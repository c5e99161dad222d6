"""The sealing event store fixtures of the privacy tests (SQLite and PostgreSQL)."""

from tests.integration.privacy.conftest import sealed_app, sealed_env  # noqa: F401 (fixtures)
