"""Field-by-field validation shared by the record contracts (detections, health records).

A `FieldChecker` collects every bad field as a `FieldError` instead of stopping at the first,
so one error message names everything a producer must fix.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.errors import FieldError

__all__ = ["MAX_DEPTH", "MAX_YEAR", "MIN_YEAR", "FieldChecker", "is_scalar_text", "short",
           "unsound_values"]

MAX_DEPTH = 16
"""Objects and arrays nested deeper than this anywhere in a record are refused."""
MIN_YEAR, MAX_YEAR = 1970, 2999
"""Timestamps outside these years are refused: window arithmetic near `datetime.min`/`max`
overflows (0001-01-01 minus a window), and no detector observes before 1970 or after 2999."""
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_MAX_PROBLEMS = 8
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_scalar_text(text: str) -> bool:
    """Whether `text` is a sequence of Unicode scalar values (no lone UTF-16 surrogate), i.e.
    encodable as UTF-8 — what every store, topic and log line needs."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _safe(text: str) -> str:
    """`text` with anything unencodable escaped (for field paths built from keys)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def unsound_values(value: object, path: str = "<record>", depth: int = 0
                   ) -> list[FieldError]:
    """Every value anywhere in a decoded JSON document that no store or topic can carry:
    strings (values or keys) that are not Unicode scalar values, non-finite numbers, integers
    beyond 64 bits, nesting deeper than `MAX_DEPTH` (at most a few problems are listed)."""
    out: list[FieldError] = []
    _walk(value, path, depth, out)
    return out


def _walk(value: object, path: str, depth: int, out: list[FieldError]) -> None:
    if len(out) >= _MAX_PROBLEMS:
        return
    if isinstance(value, str):
        if not is_scalar_text(value):
            out.append(FieldError(path, short(value), "not valid Unicode (lone surrogate)"))
    elif isinstance(value, float):
        if not math.isfinite(value):
            out.append(FieldError(path, short(value), "not a finite number"))
    elif isinstance(value, int) and not isinstance(value, bool):
        if not _INT_MIN <= value <= _INT_MAX:
            out.append(FieldError(path, short(value), "integer beyond 64 bits"))
    elif isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            out.append(FieldError(path, "...", f"nested deeper than {MAX_DEPTH} levels"))
            return
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and not is_scalar_text(key):
                out.append(FieldError(f"{path}.{_safe(key)}", short(key),
                                      "key is not valid Unicode (lone surrogate)"))
            sub = f"{path}.{_safe(key)}" if isinstance(key, str) else f"{path}[{key}]"
            _walk(item, sub, depth + 1, out)


def _bad_char(text: str) -> bool:
    """Control, format, private-use or unassigned characters: never part of an identifier."""
    if text.isascii():
        return _CONTROL.search(text) is not None
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in text)


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

    def ident(self, rec: Mapping[str, Any], name: str, *, required: bool,
              max_len: int = 128, label: str | None = None) -> str | None:
        """`text`, and no control, format or unassigned characters (ids become keys)."""
        value = self.text(rec, name, required=required, max_len=max_len)
        if value is not None and _bad_char(value):
            self.bad(label or name, value, "identifier holds control or format characters")
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
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            self.bad(name, value, f"timestamp outside the years {MIN_YEAR}..{MAX_YEAR}")
            return None
        return parsed

    def choice(self, table: Mapping[str, Any], name: str, value: object) -> Any:
        """`table[value]`, or a recorded error listing the allowed values."""
        found = table.get(value) if isinstance(value, str) else None
        if found is None:
            self.bad(name, value, "expected one of " + ", ".join(sorted(table)))
        return found
