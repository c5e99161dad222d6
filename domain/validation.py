"""Field-by-field validation shared by the record contracts (detections, health records).

A `FieldChecker` collects every bad field as a `FieldError` instead of stopping at the first,
so one error message names everything a producer must fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.errors import FieldError

__all__ = ["FieldChecker", "short"]


def short(value: object) -> str:
    """`repr(value)`, cut to 80 characters for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class FieldChecker:
    """Collects every field error instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def bad(self, name: str, value: object, reason: str) -> None:
        self.errors.append(FieldError(name, short(value), reason))

    def text(self, rec: Mapping[str, Any], name: str, *, required: bool,
             max_len: int = 128) -> str | None:
        value = rec.get(name)
        if value is None:
            if required:
                self.bad(name, value, "required")
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > max_len:
            self.bad(name, value, f"expected a non-empty string of at most {max_len} chars")
            return None
        return value

    def number(self, value: object, name: str, lo: float, hi: float) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.bad(name, value, f"expected a number in [{lo}, {hi}]")
            return None
        number = float(value)
        if not math.isfinite(number) or not lo <= number <= hi:
            self.bad(name, value, f"expected a number in [{lo}, {hi}]")
            return None
        return number

    def count(self, value: object, name: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.bad(name, value, "expected a non-negative integer")
            return None
        return value

    def timestamp(self, value: object, name: str) -> datetime | None:
        """An RFC 3339 timestamp with a UTC offset (a date alone or a naive time is refused)."""
        if not isinstance(value, str):
            self.bad(name, value, "required, expected an RFC 3339 timestamp with offset")
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.bad(name, value, "expected an RFC 3339 timestamp with offset")
            return None
        if parsed.tzinfo is None or "T" not in value.upper():
            self.bad(name, value, "timestamp must be RFC 3339 with a UTC offset")
            return None
        return parsed

    def choice(self, table: Mapping[str, Any], name: str, value: object) -> Any:
        """`table[value]`, or a recorded error listing the allowed values."""
        found = table.get(value) if isinstance(value, str) else None
        if found is None:
            self.bad(name, value, "expected one of " + ", ".join(sorted(table)))
        return found
