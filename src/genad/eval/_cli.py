"""``genad eval DATA_DIR``: score a dataset folder, print a metric table, write metrics.json (and an HTML report).

Results and VLM replies are cached under ``--cache`` (default ``.genad_cache``) as they complete, so rerunning the
same command after an interruption continues where it stopped and pays for no request twice.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from genad.eval._datasets import FORMATS

__all__ = ["format_table", "register", "run_eval"]


def register(subparsers: Any) -> None:
    """Add the ``eval`` subcommand to the ``genad`` parser's subparsers."""
    p = subparsers.add_parser("eval", help="measure genad on a dataset folder and write metrics.json",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    p.add_argument("--format", choices=["auto", *FORMATS], default="auto", help="dataset layout (default: auto)")
    p.add_argument("--category", help="only this category")
    p.add_argument("--shots", type=int, default=1, help="normal references per sample, k-shot (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the reference draw and of --limit (default 0)")
    p.add_argument("--mode", choices=["local", "vlm", "hybrid"], default="local", help="default: local")
    p.add_argument("--model", help="VLM model name (default: $GENAD_MODEL, then $OPENAI_MODEL)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $GENAD_BASE_URL, then $OPENAI_BASE_URL)")
    p.add_argument("--out", type=Path, default=Path("metrics.json"), help="metrics file (default metrics.json)")
    p.add_argument("--report", type=Path, help="also write a self-contained HTML report here")
    p.add_argument("--cache", type=Path, default=Path(".genad_cache"), help="cache folder (default .genad_cache)")
    p.add_argument("--limit", type=int, help="score at most N samples per category (seeded subset)")
    p.add_argument("--workers", type=int, default=1, help="samples scored at once (VLM calls overlap; default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    summary = run_eval(
        args.data_dir, fmt=args.format, category=args.category, shots=args.shots, seed=args.seed, mode=args.mode,
        model=args.model, base_url=args.base_url, out=args.out, report=args.report, cache=args.cache,
        limit=args.limit, workers=args.workers, progress=not args.quiet,
    )
    print(format_table(summary))
    print(f"metrics written to {args.out}" + (f", report to {args.report}" if args.report else ""))
    return 0


def run_eval(
    data_dir: Path, *, fmt: str = "auto", category: str | None = None, shots: int = 1, seed: int = 0,
    mode: str = "local", model: str | None = None, base_url: str | None = None, out: Path | None = None,
    report: Path | None = None, cache: Path | None = None, limit: int | None = None, workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the evaluation and write the files; returns the metrics.json document."""
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
                    progress=progress)
    records = runner.run(dataset)
    summary = summarize(dataset, records, mode=mode, shots=shots)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2) + "\n")
    if report is not None:
        from genad.eval._html import write_report

        write_report(report, dataset, records, summary)
    return summary


def format_table(summary: dict[str, Any]) -> str:
    """A plain-text table: one row per category plus the mean, one column per metric present."""
    keys = [k for k in summary["mean"]] or sorted({k for block in summary["categories"].values() for k in block
                                                    if k not in ("n", "n_anomalous", "errors")})
    header = ["category", "n", "errors", *keys]
    rows = [[name, str(block["n"]), str(block["errors"]), *(_cell(block.get(k)) for k in keys)]
            for name, block in summary["categories"].items()]
    rows.append(["mean", "", "", *(_cell(summary["mean"].get(k)) for k in keys)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    title = f"{summary['format']} · mode={summary['mode']} · shots={summary['shots']} · {summary['dataset']}"
    return title + "\n" + "\n".join(lines)


def _cell(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.2f}" if abs(value) > 1.5 else f"{value:.3f}"
