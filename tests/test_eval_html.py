"""The HTML report: self-contained structure, and a real render in headless Chromium (skipped without it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pytest

from genad import AnomalyReport, Region
from genad.errors import ParseError
from genad.eval._datasets import Dataset, EvalItem, read_dataset
from genad.eval._html import render_report, write_report
from genad.eval._runner import EvalRecord, summarize


def _image_run(root: Path) -> tuple[Dataset, list[EvalRecord]]:
    """Red squares; defective ones carry a green patch that the fake report's map and box find."""
    for folder, n in (("good", 4), ("stain", 4)):
        (root / "tile" / folder).mkdir(parents=True)
        for i in range(n):
            image = np.zeros((64, 64, 3), np.uint8)
            image[:, :, 2] = 220  # red in BGR
            if folder == "stain":
                image[20:36, 20:36] = (0, 200, 0)
                mask = np.zeros((64, 64), np.uint8)
                mask[20:36, 20:36] = 255
                (root / "tile" / "ground_truth" / "stain").mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / "tile" / "ground_truth" / "stain" / f"{i}_mask.png"), mask)
            cv2.imwrite(str(root / "tile" / folder / f"{i}.png"), image)
    ds = read_dataset(root)
    records = []
    # good 0-3, then stain 0-3: good/2 is a false positive (0.7), stain/1 a false negative (0.35), and the two
    # overlap: one normal outscores two anomalies
    scores = [0.1, 0.2, 0.7, 0.3, 0.9, 0.35, 0.6, 0.95]
    for item, score in zip(ds, scores, strict=True):
        amap = np.zeros((64, 64), np.float32)
        if item.label:
            amap[20:36, 20:36] = 0.9
        regions = (Region(box=(20, 20, 36, 36), label="stain", confidence=0.9),) if item.label else ()
        report = AnomalyReport(score >= 0.5, float(score), "stain" if item.label else None, regions,
                               explanation="a green stain" if item.label else "uniform red", anomaly_map=amap)
        records.append(EvalRecord(item, report))
    return ds, records


def _series_run() -> tuple[Dataset, list[EvalRecord]]:
    values = pd.DataFrame({"value": np.sin(np.arange(200) / 5.0)})
    item = EvalItem("s1.csv", values, 1, "pump", "series", "anomalous", windows=((120, 140),))
    scores = np.zeros(200)
    scores[118:142] = 0.8
    report = AnomalyReport(True, 0.8, regions=(Region(interval=(121, 139), confidence=0.8),), modality="series",
                           anomaly_map=scores)
    return Dataset(Path("series"), "skab", [item]), [EvalRecord(item, report)]


def test_report_is_self_contained_with_table_roc_and_cards(tmp_path: Path) -> None:
    ds, records = _image_run(tmp_path / "data")
    summary = summarize(ds, records, mode="vlm", shots=0)
    page = render_report(ds, records, summary)
    sources = re.findall(r"src='([^']*)'", page)
    assert sources
    assert all(s.startswith("data:image/") for s in sources)
    assert "http://" not in page
    assert "https://" not in page
    assert "<td>tile</td>" in page
    assert "image_auroc" in page
    assert "aupro" in page
    assert "alt='ROC curves'" in page
    assert "a green stain" in page
    # honest sections: one false positive, one false negative, then two correct answers of each class
    assert page.count("class='card'") == 6
    assert page.count("false positive · score") == 1
    assert "<b>tile/good/2.png</b></p><p class='fp'>false positive · score 0.700 · said anomalous" in page
    assert page.count("false negative · score") == 1
    assert "<b>tile/stain/1.png</b></p><p class='fn'>false negative · score 0.350 · said normal" in page
    assert page.count("correct · score") == 4
    assert "1 false positive(s) of 4 normal, 1 false negative(s) of 4 anomalous" in page
    # long names wrap at the card's edge only, not inside words ("go od")
    assert "break-all" not in page
    assert "overflow-wrap:anywhere" in page


def test_report_says_why_samples_failed_and_what_came_from_the_cache(tmp_path: Path) -> None:
    ds, records = _image_run(tmp_path / "data")
    failed = AnomalyReport.failed(ParseError("the reply <b>is</b> not JSON"), modality="image",
                                  source=records[5].item.name)
    records[5] = EvalRecord(records[5].item, failed)
    records[:3] = [EvalRecord(r.item, r.report, cached=True) for r in records[:3]]
    summary = summarize(ds, records, mode="vlm", shots=0)
    page = render_report(ds, records, summary)
    assert "<h2>Failed samples</h2>" in page
    assert "1 sample(s) failed; failed samples count as wrong answers" in page
    assert "<b>ParseError</b> × 1, e.g. tile/stain/1.png: the reply &lt;b&gt;is&lt;/b&gt; not JSON" in page
    assert "failed: ParseError" in page  # its card in the category's section
    assert "8 scored samples · 3 of them from the cache" in page
    assert "<td>1</td>" in page  # the errors column


def test_metric_table_shows_intervals(tmp_path: Path) -> None:
    ds, records = _image_run(tmp_path / "data")
    summary = summarize(ds, records, mode="vlm", shots=0)
    lo, hi = summary["categories"]["tile"]["ci"]["image_auroc"]
    page = render_report(ds, records, summary)
    assert f"<span class='ci'>[{lo:.2f}, {hi:.2f}]</span>" in page
    assert "95 % intervals" in page


def test_series_report_has_wide_score_plots(tmp_path: Path) -> None:
    ds, records = _series_run()
    page = render_report(ds, records, summarize(ds, records, mode="local", shots=0))
    assert page.count("<img alt='s") >= 1  # each series card shows its score plot
    assert "<div class='card wide'><img alt='s1.csv'" in page
    assert "range_f1" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _screenshot(html_path: Path, png: Path) -> np.ndarray:
    browser = _chromium()
    assert browser is not None
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={profile}",
             "--hide-scrollbars", "--window-size=1280,2000", f"--screenshot={png}", html_path.as_uri()],
            check=True, capture_output=True, timeout=120,
        )
    shot = cv2.imread(str(png))
    assert shot is not None, "chromium wrote no screenshot"
    return shot


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (Debian: chromium)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    ds, records = _image_run(tmp_path / "data")
    path = write_report(tmp_path / "report.html", ds, records, summarize(ds, records, mode="vlm", shots=0))
    shot = _screenshot(path, tmp_path / "shot.png")
    b, g, r = (shot[:, :, i].astype(int) for i in range(3))
    # the embedded red sample images decoded and were drawn (broken images would leave no red area)
    red = (r > 150) & (g < 90) & (b < 90)
    assert red.sum() > 5000
    # the ROC plot's first curve (matplotlib C0, #1f77b4) is on the page
    blue: Any = (abs(r - 0x1F) < 40) & (abs(g - 0x77) < 40) & (abs(b - 0xB4) < 40)
    assert blue.sum() > 50
    # the page is not blank: plenty of text/table pixels in the top band
    top = shot[:300]
    assert (top.min(axis=2) < 128).sum() > 2000


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (Debian: chromium)")
def test_series_score_plots_are_drawn_wide_in_chromium(tmp_path: Path) -> None:
    # a normal series: no labelled window, so no ROC curve, and the only blue on the page is the score line
    values = pd.DataFrame({"value": np.sin(np.arange(300) / 5.0)})
    item = EvalItem("a_rather_long_file_name_of_a_pump_series.csv", values, 0, "pump", "series")
    report = AnomalyReport(False, 0.2, modality="series", anomaly_map=0.1 + 0.05 * np.cos(np.arange(300) / 9.0))
    ds, records = Dataset(Path("series"), "skab", [item]), [EvalRecord(item, report)]
    path = write_report(tmp_path / "series.html", ds, records, summarize(ds, records, mode="local", shots=0))
    shot = _screenshot(path, tmp_path / "series.png")
    b, r = shot[:, :, 0].astype(int), shot[:, :, 2].astype(int)
    line = (b - r > 80) & (b > 150)
    columns = np.flatnonzero(line.any(axis=0))
    assert columns.size > 0, "no score plot on the page"
    assert columns.max() - columns.min() > 450  # in a 330-pixel card it was a thumbnail
