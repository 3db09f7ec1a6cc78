"""A self-contained HTML report of an evaluation: every picture is embedded as a ``data:`` URL.

Sections: the run (settings, usage, how many results came from the cache, why samples failed), the per-category
metric table with bootstrap intervals, ROC curves (matplotlib PNGs) over each modality's units, and per category the
false positives and false negatives at the report's own verdict, the correct answers closest to the other class and
the failed samples. Samples are drawn by their modality (:meth:`~genad.Modality.eval_picture`: images with the
report's overlay and the ground truth outlined in green, point clouds rendered, series and videos as score plots
with the ground truth shaded); wide pictures (score plots) get wide cards.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genad._registry import get_modality
from genad.errors import GenadError
from genad.eval._datasets import Dataset
from genad.eval._runner import COUNT_KEYS, ERRORS_AS, EvalRecord, as_wrong, failure_summary

__all__ = ["render_report", "write_report"]

THUMB_MAX = 480
"""Longest side of a square-ish picture in the report, in pixels."""
WIDE_MAX = 1240
"""Longest side of a wide picture (a score plot, aspect ratio at least ``WIDE_ASPECT``)."""
WIDE_ASPECT = 1.6

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1320px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px} .meta{color:#666;font-size:13px}
table{border-collapse:collapse;font-size:13px} th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left} tr.mean td{font-weight:600;border-top:2px solid #999}
td .ci{color:#777;font-weight:400;font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.card{width:330px;border:1px solid #ddd;border-radius:6px;padding:6px;box-sizing:border-box}
.card.wide{width:600px;max-width:100%}
.card img{width:100%;display:block;border-radius:4px}
.card p{font-size:12px;margin:4px 0;overflow-wrap:anywhere}
.fp{color:#b00} .fn{color:#a60} .ok{color:#373} .failed{color:#b00} img.plot{max-width:100%}
ul.failures{font-size:13px} ul.failures li{margin:2px 0;overflow-wrap:anywhere}
"""

_SECTIONS = {
    "fp": "false positives: normal samples said anomalous",
    "fn": "false negatives: anomalous samples said normal",
    "ok": "correct, closest to the other class: the highest-scored normal and lowest-scored anomalous samples "
          "said right",
    "failed": "failed samples",
}


def write_report(path: str | Path, dataset: Dataset, records: Sequence[EvalRecord], summary: dict[str, Any],
                 *, n_worst: int = 4, progress: bool = False) -> Path:
    """Write :func:`render_report` to a file (UTF-8) and return its path.

    Parameters
    ----------
    path
        The HTML file to write; its folder is made if needed.
    dataset, records, summary, n_worst, progress
        As for :func:`render_report`.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(dataset, records, summary, n_worst=n_worst, progress=progress), encoding="utf-8")
    return out


def render_report(dataset: Dataset, records: Sequence[EvalRecord], summary: dict[str, Any],
                  *, n_worst: int = 4, progress: bool = False) -> str:
    """The report as one HTML string.

    Per category: up to ``n_worst`` false positives (highest score first) and false negatives (lowest first) at
    the reports' own verdicts, up to ``n_worst // 2`` correct answers of each class closest to the other class, and
    every failed sample with its error.

    Parameters
    ----------
    dataset
        The evaluated dataset.
    records
        The records :meth:`Runner.run <genad.eval.Runner.run>` returned for it.
    summary
        The :func:`~genad.eval.summarize` document.
    n_worst
        Errors shown per kind and category.
    progress
        Show a progress bar while the pictures are drawn.
    """
    from tqdm import tqdm

    usage = summary.get("usage", {})
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>genad eval · {_e(dataset.root.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>genad eval · {_e(dataset.root.name)}</h1>",
        f"<p class='meta'>format {_e(summary['format'])} · mode {_e(summary['mode'])} · shots {summary['shots']} · "
        f"{len(records)} scored samples · {summary.get('cached', 0)} of them from the cache · "
        f"{usage.get('requests', 0)} VLM requests · "
        f"{usage.get('prompt_tokens', 0) + usage.get('completion_tokens', 0)} tokens</p>",
        _failures(summary, records),
        "<h2>Metrics</h2>", _metric_table(summary), _interval_note(summary),
    ]
    roc = _roc_figure(_counted(records, summary.get("errors_as", "skip")))
    if roc:
        parts += ["<h2>ROC curves</h2>", f"<img class='plot' alt='ROC curves' src='{roc}'>"]
    chosen = {category: _choose(records, category, n_worst) for category in dataset.categories}
    todo = [r for sections in chosen.values() for kind, recs in sections.items() if kind != "failed" for r in recs]
    pictures: dict[int, tuple[str, bool] | None] = {}
    for r in tqdm(todo, disable=not progress or not todo, unit="picture", desc="report", dynamic_ncols=True):
        pictures[id(r)] = _picture(r)
    parts.append("<h2>Errors and close calls by category</h2>")
    for category, sections in chosen.items():
        parts.append(f"<h3>{_e(category)}</h3>")
        parts.append(_category_line(records, category))
        for kind, recs in sections.items():
            if recs:
                parts.append(_cards(recs, kind, pictures))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def _choose(records: Sequence[EvalRecord], category: str, n_worst: int) -> dict[str, list[EvalRecord]]:
    recs = [r for r in records if r.item.category == category]
    scored = [r for r in recs if r.report.ok and r.report.score is not None]
    normal = sorted((r for r in scored if r.item.label == 0), key=lambda r: -(r.report.score or 0.0))
    anomalous = sorted((r for r in scored if r.item.label == 1), key=lambda r: r.report.score or 0.0)
    close = n_worst // 2
    return {
        "fp": [r for r in normal if r.report.is_anomalous][:n_worst],
        "fn": [r for r in anomalous if not r.report.is_anomalous][:n_worst],
        "ok": [r for r in normal if not r.report.is_anomalous][:close]
        + [r for r in anomalous if r.report.is_anomalous][:close],
        "failed": [r for r in recs if r not in scored],
    }


def _category_line(records: Sequence[EvalRecord], category: str) -> str:
    recs = [r for r in records if r.item.category == category]
    scored = [r for r in recs if r.report.ok and r.report.score is not None]
    fp = sum(1 for r in scored if r.item.label == 0 and r.report.is_anomalous)
    fn = sum(1 for r in scored if r.item.label == 1 and not r.report.is_anomalous)
    n_normal = sum(1 for r in scored if r.item.label == 0)
    text = (f"{len(recs)} samples: {fp} false positive(s) of {n_normal} normal, {fn} false negative(s) of "
            f"{len(scored) - n_normal} anomalous, {len(recs) - len(scored)} failed")
    normal = [r.report.score for r in scored if r.item.label == 0 and r.report.score is not None]
    anomalous = [r.report.score for r in scored if r.item.label == 1 and r.report.score is not None]
    if normal and anomalous:
        text += f" · highest normal score {max(normal):.3f}, lowest anomalous score {min(anomalous):.3f}"
    return f"<p class='meta'>{_e(text)}</p>"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _metric_cell(value: Any, ci: Sequence[float] | None) -> str:
    text = _e(_fmt(value))
    if ci and value is not None:
        text += f" <span class='ci'>[{ci[0]:.2f}, {ci[1]:.2f}]</span>"
    return f"<td>{text}</td>"


def _metric_table(summary: dict[str, Any]) -> str:
    keys = list(dict.fromkeys([*(k for block in summary["categories"].values() for k in block
                                 if k not in COUNT_KEYS), *summary["mean"]]))
    head = "".join(f"<th>{_e(k)}</th>" for k in ["category", "n", "anomalous", "errors", *keys])
    rows = []
    for name, block in summary["categories"].items():
        counts = [name, block["n"], block.get("n_anomalous", ""), block.get("errors", 0)]
        ci = block.get("ci", {})
        rows.append("<tr>" + "".join(f"<td>{_e(_fmt(c))}</td>" for c in counts)
                    + "".join(_metric_cell(block.get(k), ci.get(k)) for k in keys) + "</tr>")
    mean_ci = summary.get("mean_ci", {})
    rows.append("<tr class='mean'>" + "".join(f"<td>{_e(c)}</td>" for c in ["mean", "", "", summary.get("errors", "")])
                + "".join(_metric_cell(summary["mean"].get(k), mean_ci.get(k)) for k in keys) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _interval_note(summary: dict[str, Any]) -> str:
    intervals = summary.get("intervals", {})
    if not intervals.get("resamples") or not (summary.get("mean_ci") or any(
            "ci" in block for block in summary["categories"].values())):
        return ""
    skipped = sorted({k for keys in intervals.get("skipped", {}).values() for k in keys})
    text = (f"[lo, hi]: {round(100 * intervals['confidence'])} % intervals, {_e(intervals.get('method', ''))} "
            f"({intervals['resamples']} resamples).")
    if skipped:
        text += f" No interval for {_e(', '.join(skipped))}: too slow to recompute on every resample."
    return f"<p class='meta'>{text}</p>"


def _failures(summary: dict[str, Any], records: Sequence[EvalRecord]) -> str:
    groups = summary.get("failures") or failure_summary(records)
    if not groups:
        return ""
    total = sum(g["count"] for g in groups)
    how = ERRORS_AS.get(summary.get("errors_as", ""), "")
    items = "".join(f"<li><b>{_e(g['error_type'])}</b> × {g['count']}, e.g. {_e(g['example'])}</li>" for g in groups)
    return (f"<h2>Failed samples</h2><p class='meta failed'>{total} sample(s) failed; {_e(how)}.</p>"
            f"<ul class='failures'>{items}</ul>")


# ---------------------------------------------------------------- pictures


def _jpeg(image: np.ndarray) -> str:
    """A thumbnail as a JPEG data URL: longest side at most ``THUMB_MAX``, or ``WIDE_MAX`` for wide pictures."""
    import cv2

    h, w = image.shape[:2]
    limit = WIDE_MAX if _is_wide(image) else THUMB_MAX
    if max(h, w) > limit:
        scale = limit / max(h, w)
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise GenadError("could not encode a report image")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _is_wide(image: np.ndarray) -> bool:
    h, w = image.shape[:2]
    return w >= WIDE_ASPECT * h


def _figure_url(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _counted(records: Sequence[EvalRecord], errors_as: str) -> list[EvalRecord]:
    """The records as the metrics counted them: failed ones as wrong answers, or left out."""
    ok = [r for r in records if r.report.ok and r.report.score is not None]
    if errors_as != "wrong":
        return ok
    return [r if r.report.ok and r.report.score is not None else as_wrong(r) for r in records]


def _roc_figure(records: Sequence[EvalRecord]) -> str | None:
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot()
    drawn = 0
    for category in sorted({r.item.category for r in records}):
        recs = [r for r in records if r.item.category == category and r.report.ok and r.report.score is not None]
        if not recs:
            continue
        labels, scores = get_modality(recs[0].item.modality).roc_points(recs)
        if np.unique(labels).size < 2:
            continue
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{category} ({labels.size} points, AUROC {roc_auc_score(labels, scores):.3f})")
        drawn += 1
    if not drawn:
        return None
    ax.plot([0, 1], [0, 1], color="#bbb", linestyle="--", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return _figure_url(fig)


def _cards(records: Sequence[EvalRecord], kind: str, pictures: dict[int, tuple[str, bool] | None]) -> str:
    cards = []
    for r in records:
        if kind == "failed":
            cards.append(
                f"<div class='card'><p><b>{_e(r.item.name)}</b></p>"
                f"<p class='failed'>failed: {_e(r.report.error_type or 'no score')} · truth "
                f"{_e(r.item.defect_type)}</p><p>{_e((r.report.error or '')[:400])}</p></div>")
            continue
        found = pictures.get(id(r))
        img = f"<img alt='{_e(r.item.name)}' src='{found[0]}'>" if found else "<p>(no picture)</p>"
        said = bool(r.report.is_anomalous)
        verdict = {"fp": "false positive", "fn": "false negative"}.get(kind, "correct")
        text = r.report.explanation[:300]
        cards.append(
            f"<div class='card{' wide' if found and found[1] else ''}'>{img}<p><b>{_e(r.item.name)}</b></p>"
            f"<p class='{kind}'>{verdict} · score {r.report.score:.3f} · said "
            f"{'anomalous' if said else 'normal'} · truth {_e(r.item.defect_type)}</p>"
            + (f"<p>{_e(text)}</p>" if text else "") + "</div>")
    return f"<p class='meta'>{_e(_SECTIONS[kind])} ({len(records)})</p><div class='cards'>{''.join(cards)}</div>"


def _picture(record: EvalRecord) -> tuple[str, bool] | None:
    """The record's picture by its modality (an overlay, a rendering, a score plot) as a data URL and whether it
    is wide; ``None`` if unavailable."""
    try:
        picture = get_modality(record.item.modality).eval_picture(record)
    except (GenadError, ImportError, OSError, ValueError):
        return None
    return (_jpeg(picture), _is_wide(picture)) if picture is not None else None
