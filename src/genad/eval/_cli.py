"""``genad eval DATA_DIR``: score a dataset folder, print a metric table, write metrics.json (and an HTML report).

Results and VLM replies are cached under ``--cache`` (default ``.genad_cache``) as they complete, so rerunning the
same command after an interruption continues where it stopped and pays for no request twice. Samples that failed
are scored again on a rerun (their VLM replies come from the cache) unless ``--keep-errors``.

Samples are scored in this process (``--threads N`` at once: VLM calls overlap), on a local Dask cluster of
``--workers N`` processes, or on a running Dask cluster (``--scheduler tcp://HOST:PORT``); results are stored here
as they arrive either way. Dask comes with the ``dask`` extra: pip install "genad[dask]".

Metrics come with 95 % bootstrap intervals (``--ci-resamples``, 0 for none); failed samples count as wrong answers
(``--errors-as wrong``, the default) or are left out (``--errors-as skip``).

examples:
  genad eval ../shared/data/mvtec_ad --shots 1 --report report.html
  genad eval ../shared/data/nab --out nab.json
  genad eval DATA --mode vlm --model gpt-4o --threads 16 --limit 20
  genad eval DATA --workers 4
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from genad.eval._datasets import FORMATS

__all__ = ["format_failures", "format_table", "register", "run_eval"]


def _count(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    parse.__name__ = f"number >= {minimum}"
    return parse


def register(subparsers: Any) -> None:
    """Add the ``eval`` subcommand to the ``genad`` parser's subparsers."""
    p = subparsers.add_parser("eval", help="measure genad on a dataset folder and write metrics.json",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    p.add_argument("--format", choices=["auto", *FORMATS], default="auto", help="dataset layout (default: auto)")
    p.add_argument("--category", help="only this category")
    p.add_argument("--shots", type=_count(0), default=1, help="normal references per sample, k-shot (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the reference draw and of --limit (default 0)")
    p.add_argument("--zero-shot", choices=["batch", "alone"], default="batch",
                   help="score each category's samples together where the expert compares them with each other "
                        "(batch, default: --shots 0, and any --shots with the image expert), or each sample by "
                        "itself (alone)")
    p.add_argument("--mode", choices=["local", "vlm", "hybrid"], default="local", help="default: local")
    p.add_argument("--model", help="VLM model name (default: $GENAD_MODEL, then $OPENAI_MODEL)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $GENAD_BASE_URL, then $OPENAI_BASE_URL)")
    p.add_argument("--out", type=Path, default=Path("metrics.json"), help="metrics file (default metrics.json)")
    p.add_argument("--report", type=Path, help="also write a self-contained HTML report here")
    p.add_argument("--cache", type=Path, default=Path(".genad_cache"), help="cache folder (default .genad_cache)")
    p.add_argument("--keep-errors", action="store_true",
                   help="use stored failures as they are instead of scoring those samples again")
    p.add_argument("--limit", type=_count(1), help="score at most N samples per category (seeded subset)")
    p.add_argument("--threads", type=_count(1), default=1,
                   help="samples scored at once in each process (VLM calls overlap; default 1)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_count(1), default=1,
                       help="score on a local Dask cluster of N worker processes (default 1: in this process)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="score on a running Dask cluster")
    p.add_argument("--errors-as", choices=["wrong", "skip"], default="wrong",
                   help="failed samples count as wrong answers (default) or are left out of the metrics")
    p.add_argument("--ci-resamples", type=_count(0), default=200,
                   help="bootstrap resamples of the 95 %% intervals (default 200; 0: no intervals)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    summary = run_eval(
        args.data_dir, fmt=args.format, category=args.category, shots=args.shots, seed=args.seed, mode=args.mode,
        model=args.model, base_url=args.base_url, out=args.out, report=args.report, cache=args.cache,
        limit=args.limit, workers=args.threads, processes=args.workers if args.workers > 1 else 0,
        scheduler=args.scheduler, keep_errors=args.keep_errors, errors_as=args.errors_as,
        ci_resamples=args.ci_resamples, zero_shot=args.zero_shot, progress=not args.quiet,
    )
    print(format_table(summary))
    for line in format_failures(summary, cache=args.cache):
        print(line)
    print(f"metrics written to {args.out}" + (f", report to {args.report}" if args.report else ""))
    return 0


def run_eval(
    data_dir: Path, *, fmt: str = "auto", category: str | None = None, shots: int = 1, seed: int = 0,
    mode: str = "local", model: str | None = None, base_url: str | None = None, out: Path | None = None,
    report: Path | None = None, cache: Path | None = None, limit: int | None = None, workers: int = 1,
    processes: int = 0, scheduler: Any = None, keep_errors: bool = False, errors_as: str = "wrong",
    ci_resamples: int = 200, zero_shot: str = "batch", progress: bool = True,
) -> dict[str, Any]:
    """Run the evaluation and write the files; returns the metrics.json document.

    ``workers`` are threads per process, ``processes`` the worker processes of a local Dask cluster and
    ``scheduler`` a running Dask scheduler's address (see :class:`~genad.eval.Runner`).
    """
    from genad._detector import Detector
    from genad.eval._datasets import read_dataset
    from genad.eval._runner import Runner, summarize

    dataset = read_dataset(data_dir, fmt, category)
    client = None
    if mode in ("vlm", "hybrid"):
        from genad._cache import CachedClient
        from genad._openai import OpenAIClient

        inner = OpenAIClient(model=model, base_url=base_url)
        client = CachedClient(inner, Path(cache) / "replies.sqlite") if cache is not None else inner
    detector = Detector(client=client, mode=mode)  # type: ignore[arg-type]
    runner = Runner(detector, shots=shots, seed=seed, cache_dir=cache, limit=limit, workers=workers,
                    processes=processes, scheduler=scheduler, keep_errors=keep_errors,
                    zero_shot=zero_shot, progress=progress)  # type: ignore[arg-type]
    records = runner.run(dataset)
    summary = summarize(dataset, records, mode=mode, shots=shots, errors=errors_as, ci_resamples=ci_resamples,
                        progress=progress)
    if dataset.format != "nab":
        summary["scored"] = "batch" if runner.batches(dataset) else "alone"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2) + "\n")
    if report is not None:
        from genad.eval._html import write_report

        write_report(report, dataset, records, summary, progress=progress)
    return summary


def format_table(summary: dict[str, Any]) -> str:
    """A plain-text table: one row per category plus the mean, one column per metric present; each value with its
    bootstrap interval when there is one: ``0.912 [0.85, 0.97]``."""
    from genad.eval._runner import COUNT_KEYS

    keys = [k for k in summary["mean"]] or sorted({k for block in summary["categories"].values() for k in block
                                                    if k not in COUNT_KEYS})
    header = ["category", "n", "errors", *keys]
    rows = [[name, str(block["n"]), str(block["errors"]), *(_cell(block.get(k), block.get("ci", {}).get(k))
                                                              for k in keys)]
            for name, block in summary["categories"].items()]
    mean_ci = summary.get("mean_ci", {})
    rows.append(["mean", "", str(summary.get("errors", "")), *(_cell(summary["mean"].get(k), mean_ci.get(k))
                                                              for k in keys)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    scored = f" ({summary['scored']})" if "scored" in summary else ""
    title = f"{summary['format']} · mode={summary['mode']} · shots={summary['shots']}{scored} · {summary['dataset']}"
    return title + "\n" + "\n".join(lines)


def format_failures(summary: dict[str, Any], cache: Path | None = None) -> list[str]:
    """Lines saying why samples failed (by error type, with a count and one example), how the metrics counted
    them, and how many results came from the cache."""
    from genad.eval._runner import ERRORS_AS

    lines = []
    failures = summary.get("failures", [])
    if failures:
        total = sum(g["count"] for g in failures)
        how = ERRORS_AS.get(summary.get("errors_as", ""), "")
        lines.append(f"{total} sample(s) failed; {how}:")
        lines += [f"  {g['error_type']} × {g['count']}, e.g. {g['example']}" for g in failures]
    cached = summary.get("cached", 0)
    if cached:
        n = sum(block["n"] for block in summary["categories"].values())
        where = f" in {cache}" if cache is not None else ""
        lines.append(f"{cached} of {n} results came from the cache{where} (a new --cache folder scores all again)")
    intervals = summary.get("intervals", {})
    has_ci = bool(summary.get("mean_ci")) or any("ci" in b for b in summary["categories"].values())
    if intervals.get("resamples") and has_ci:
        skipped = sorted({k for keys in intervals.get("skipped", {}).values() for k in keys})
        lines.append(f"[lo, hi]: {round(100 * intervals['confidence'])} % bootstrap intervals "
                     f"({intervals['resamples']} resamples of each category's samples)"
                     + (f"; none for {', '.join(skipped)} (too slow to resample)" if skipped else ""))
    return lines


def _cell(value: float | None, ci: list[float] | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = _number(value)
    if ci:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]" if abs(value) <= 1.5 else f" [{ci[0]:.1f}, {ci[1]:.1f}]"
    return text


def _number(value: float) -> str:
    return f"{value:.2f}" if abs(value) > 1.5 else f"{value:.3f}"
