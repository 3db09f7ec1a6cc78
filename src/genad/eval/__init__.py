"""Evaluation: dataset readers, cached resumable runs, metrics per category and the HTML report.

>>> from genad.eval import read_dataset, Runner, summarize
>>> dataset = read_dataset("../shared/data/mvtec_ad")                       # doctest: +SKIP
>>> records = Runner(Detector(mode="local"), shots=1).run(dataset)          # doctest: +SKIP
>>> summarize(dataset, records, mode="local", shots=1)["mean"]              # doctest: +SKIP

The command ``genad eval DATA_DIR`` does the same and writes metrics.json (and an HTML report).
"""

from typing import TYPE_CHECKING

from genad._lazy import lazy_exports

if TYPE_CHECKING:
    from genad.eval._datasets import FORMATS, Dataset, EvalItem, detect_format, read_dataset
    from genad.eval._html import render_report, write_report
    from genad.eval._nab import NabFile, nab_scores, read_nab_results
    from genad.eval._runner import EvalRecord, ResultStore, Runner, select_references, summarize

__all__ = ["FORMATS", "Dataset", "EvalItem", "EvalRecord", "NabFile", "ResultStore", "Runner", "detect_format",
           "nab_scores", "read_dataset", "read_nab_results", "render_report", "select_references", "summarize",
           "write_report"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "FORMATS": "genad.eval._datasets", "Dataset": "genad.eval._datasets", "EvalItem": "genad.eval._datasets",
    "detect_format": "genad.eval._datasets", "read_dataset": "genad.eval._datasets",
    "render_report": "genad.eval._html", "write_report": "genad.eval._html",
    "NabFile": "genad.eval._nab", "nab_scores": "genad.eval._nab", "read_nab_results": "genad.eval._nab",
    "EvalRecord": "genad.eval._runner", "ResultStore": "genad.eval._runner", "Runner": "genad.eval._runner",
    "select_references": "genad.eval._runner", "summarize": "genad.eval._runner",
})
