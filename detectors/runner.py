"""onnxruntime sessions with explicitly chosen execution providers, threads and warm-up.

Providers are named explicitly at start: CUDA first when the `gpu` extra (onnxruntime-gpu) is
installed *and* a GPU is present, then CPU. The raw `get_available_providers()` list is never
passed (onnxruntime 1.32 lists `AzureExecutionProvider` first). The provider a session actually
uses is logged and exposed as the `kuzet_detector_model_provider` metric.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from detectors.errors import ModelLoadError
from detectors.metrics import MODEL_PROVIDER

__all__ = ["OnnxModel", "choose_providers", "gpu_present"]

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@functools.cache
def gpu_present() -> bool:
    """True when an NVIDIA driver answers (`nvidia-smi` exists and lists a GPU); asked once
    per process, not once per model."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, timeout=5, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and b"GPU" in out.stdout


def choose_providers(
    available: Sequence[str], *, prefer_gpu: bool, has_gpu: Callable[[], bool] = gpu_present
) -> list[str]:
    """The explicit provider list: [CUDA, CPU] when CUDA is built in and a GPU is present."""
    if prefer_gpu and CUDA in available and has_gpu():
        return [CUDA, CPU]
    return [CPU]


@dataclass(frozen=True, slots=True)
class InputSpec:
    name: str
    shape: tuple[int | str | None, ...]


class OnnxModel:
    """One loaded ONNX model: `run(batch)` returns its first output for an NCHW float batch."""

    def __init__(self, path: Path, *, name: str, prefer_gpu: bool = True,
                 intra_threads: int = 0) -> None:
        if not path.is_file():
            raise ModelLoadError(f"model {name}: no file at {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers = choose_providers(ort.get_available_providers(), prefer_gpu=prefer_gpu)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"model {name} ({path}): onnxruntime refused it: {exc}") from None
        self.name, self.path = name, path
        self.provider = self.session.get_providers()[0]
        first = self.session.get_inputs()[0]
        self.input = InputSpec(first.name, tuple(first.shape))
        MODEL_PROVIDER.labels(model=name, provider=self.provider).set(1)
        log.info("model %s loaded from %s on %s", name, path, self.provider)

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the model requires, or None when the batch axis is dynamic."""
        dim = self.input.shape[0]
        return dim if isinstance(dim, int) else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on `batch` (split into the model's fixed batch when it has one)."""
        fixed = self.fixed_batch
        if fixed is None or batch.shape[0] == fixed:
            return np.asarray(self.session.run(None, {self.input.name: batch})[0])
        parts = [self.session.run(None, {self.input.name: batch[i:i + fixed]})[0]
                 for i in range(0, batch.shape[0], fixed)]
        return np.concatenate(parts)

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output of one call, in the model's output order (multi-head models)."""
        return [np.asarray(o) for o in self.session.run(None, {self.input.name: batch})]

    def warm_up(self, shape: tuple[int, ...]) -> None:
        """One inference on zeros so the first real frame does not pay for allocation."""
        self.run(np.zeros(shape, dtype=np.float32))
