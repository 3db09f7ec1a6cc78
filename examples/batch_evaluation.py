"""Measure the local image expert on a dataset folder, from Python: offline, no model.

The dataset is written here by ``genad.synthetic.write_set`` in the MVTec AD layout (``<category>/good/*.png``,
``<category>/<defect>/*.png`` and ``<category>/ground_truth/<defect>/*_mask.png``) in a temporary folder. The
evaluation harness draws one normal reference per category (1-shot), scores every other image, and prints the
metric table (image AUROC and AP, F1-max, pixel AUROC and AUPRO per category). An HTML report with every overlay
is written to ``examples_out/eval_report.html``. ``genad eval DATA_DIR`` runs the same from the command line.

    python examples/batch_evaluation.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from genad import Detector
from genad.eval._cli import format_table
from genad.eval._datasets import read_dataset
from genad.eval._html import write_report
from genad.eval._runner import Runner, summarize
from genad.synthetic import write_set


def main(out_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_set(Path(tmp) / "synthetic_mvtec", n_good=4, n_per_defect=2, size=192)
        dataset = read_dataset(root)  # the layout is recognised: format "mvtec"
        print(f"dataset: {dataset.format}, {len(dataset.items)} images in {', '.join(dataset.categories)}")

        runner = Runner(Detector(mode="local"), shots=1, seed=0, progress=False)  # cache_dir= makes runs resumable
        records = runner.run(dataset)
        summary = summarize(dataset, records, mode="local", shots=1)
        print(format_table(summary))

        out_dir.mkdir(parents=True, exist_ok=True)
        write_report(out_dir / "eval_report.html", dataset, records, summary)
    print(f"HTML report written to {out_dir / 'eval_report.html'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples_out"))
