"""Errors raised by the domain.

    DomainError
    ├── InvalidDetection        a detection record fails the contract (every bad field listed)
    ├── InvalidHealthRecord     a source-health record fails its contract (every field listed)
    ├── InvalidRules            a correlation rule set fails validation (every problem listed)
    ├── IncidentError
    │   ├── IncidentNotFound    no incident has the given id
    │   ├── IllegalTransition   the command is not allowed in the incident's status
    │   ├── VersionConflict     the caller's expected version is not the current one
    │   └── InvalidCommand      a command argument is out of range (empty note, lower level…)
    │       └── MergeRefused    a merge that can never be right (an incident into itself)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DomainError",
    "FieldError",
    "IllegalTransition",
    "IncidentError",
    "IncidentNotFound",
    "InvalidCommand",
    "InvalidDetection",
    "InvalidHealthRecord",
    "InvalidRules",
    "MergeRefused",
    "VersionConflict",
]


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field: its dotted path, the offending value (repr, shortened) and why."""

    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}={self.value}: {self.reason}"


class InvalidDetection(DomainError):
    """Raised by `parse_detection` when a record breaks the detection contract."""

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        self.errors = errors
        super().__init__("invalid detection: " + "; ".join(str(e) for e in errors))


class InvalidHealthRecord(DomainError):
    """Raised by `parse_health` when a record breaks the health contract."""

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        self.errors = errors
        super().__init__("invalid health record: " + "; ".join(str(e) for e in errors))


class InvalidRules(DomainError):
    """Raised by `load_rules` when a rule set is malformed; lists every problem found."""

    def __init__(self, problems: tuple[str, ...], source: str = "<rules>") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"invalid rules in {source}: " + "; ".join(problems))


class IncidentError(DomainError):
    """Base of errors about one incident; carries its id."""

    def __init__(self, incident_id: object, message: str) -> None:
        self.incident_id = str(incident_id)
        super().__init__(message)


class IncidentNotFound(IncidentError):
    """Raised when no incident with the given id exists in the store."""

    def __init__(self, incident_id: object) -> None:
        super().__init__(incident_id, f"incident {incident_id} not found")


class IllegalTransition(IncidentError):
    """Raised when a lifecycle command is not allowed in the incident's current status."""

    def __init__(self, incident_id: object, command: str, status: str) -> None:
        self.command = command
        self.status = status
        super().__init__(incident_id, f"cannot {command} incident {incident_id}: it is {status}")


class VersionConflict(IncidentError):
    """Raised when an operator command's expected version is not the incident's version."""

    def __init__(self, incident_id: object, expected: int, current: int) -> None:
        self.expected = expected
        self.current = current
        super().__init__(
            incident_id,
            f"incident {incident_id} is at version {current}, not the expected {expected}",
        )


class InvalidCommand(IncidentError):
    """Raised when a command argument is out of range (empty note, non-increasing level…)."""


class MergeRefused(InvalidCommand):
    """Raised when a merge can never be carried out whatever the statuses (an incident into
    itself); a merge into or from a closed or merged incident is an `IllegalTransition`."""
