"""DESIGN.md's import rules, enforced: who may import whom, and a pure `domain`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"domain", "follow", "streams", "detectors", "projections", "api", "eventstore", "audit", "adapters",
        "archive", "kuzet"}
ALLOWED = {
    "domain": set(),
    "detectors": {"domain"},
    "follow": {"domain"},
    "streams": {"domain", "follow"},
    "projections": {"domain", "follow"},
    "api": {"domain", "projections", "follow"},
    "eventstore": {"domain"},
    "audit": {"domain", "projections", "eventstore"},
    "adapters": {"domain"},
    "archive": {"domain", "eventstore"},
    "kuzet": OURS,
}
HEAVY = ["aiokafka", "faust", "asyncpg", "sqlite3", "psycopg", "cv2", "onnxruntime",
         "starlette", "strawberry", "asyncio"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_design_allows(package: str) -> None:
    bad = {}
    for path in (ROOT / package).rglob("*.py"):
        wrong = (_imports(path) & OURS) - ALLOWED[package] - {package}
        if wrong:
            bad[str(path.relative_to(ROOT))] = sorted(wrong)
    assert bad == {}


def test_nothing_imports_the_composition_root() -> None:
    for package in OURS - {"kuzet"}:
        for path in (ROOT / package).rglob("*.py"):
            assert "kuzet" not in _imports(path), path


def test_domain_imports_only_the_standard_library_and_eventsourcing() -> None:
    code = (
        "import sys, domain, domain.application, domain.correlation, domain.detection, "
        "domain.rules, domain.incident, domain.topics\n"
        "print(','.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=ROOT).stdout.strip().split(","))
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    third_party = {p for p in loaded if not p.startswith("_")} - set(sys.stdlib_module_names) - OURS
    assert third_party <= {"eventsourcing", "typing_extensions"}, third_party
