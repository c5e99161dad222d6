"""Errors of the composition root (the CLI prints these as one line, exit status 2)."""

from __future__ import annotations

__all__ = ["KuzetError"]


class KuzetError(Exception):
    """A failure the operator can act on: bad input file, unreachable service, failed check."""
