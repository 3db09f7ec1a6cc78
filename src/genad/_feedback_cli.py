"""``genad feedback list|add|export|clear``: inspect and edit the human-feedback store.

    genad feedback add --category bottle --normal good_07.png           a sample confirmed normal
    genad feedback add --category bottle --anomalous part.png --box 40 30 90 80 --note "hairline crack"
    genad feedback add --category bottle --report report.json --wrong --note "the glare is normal"
    genad feedback list [--category bottle]
    genad feedback export --format csv --out feedback.csv
    genad feedback clear --category bottle

The store is ``--store``, else ``$GENAD_FEEDBACK``, else ``.genad_feedback.sqlite`` in the current folder; pass the
same file to ``genad detect --feedback`` so detections of the category use it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from genad._feedback import FeedbackStore
from genad._report import AnomalyReport, Region
from genad.errors import InputError

__all__ = ["default_store_path", "register"]


def default_store_path() -> Path:
    """``$GENAD_FEEDBACK``, else ``.genad_feedback.sqlite`` in the current folder."""
    return Path(os.environ.get("GENAD_FEEDBACK") or ".genad_feedback.sqlite")


def register(subparsers: Any) -> None:
    """Add the ``feedback`` subcommand to the ``genad`` parser's subparsers."""
    p = subparsers.add_parser("feedback", help="mark reports right or wrong; list, export or clear the store",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True)

    def with_store(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.add_argument("--store", type=Path, default=None, help="feedback file (default: $GENAD_FEEDBACK, then "
                       ".genad_feedback.sqlite)")
        return q

    listing = with_store(actions.add_parser("list", help="print the stored entries"))
    listing.add_argument("--category")
    listing.set_defaults(run=_run_list)

    add = with_store(actions.add_parser("add", help="record a judgement"))
    add.add_argument("path", nargs="?", help="the sample (default: the report's source with --report)")
    add.add_argument("--category", required=True)
    truth = add.add_mutually_exclusive_group(required=True)
    truth.add_argument("--normal", action="store_const", const="normal", dest="label", help="the sample is normal")
    truth.add_argument("--anomalous", action="store_const", const="anomalous", dest="label",
                       help="the sample is anomalous")
    truth.add_argument("--right", action="store_const", const="right", dest="label",
                       help="the --report verdict was right")
    truth.add_argument("--wrong", action="store_const", const="wrong", dest="label",
                       help="the --report verdict was wrong")
    add.add_argument("--report", type=Path, help="a report written by 'genad detect --json'")
    add.add_argument("--box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"),
                     help="where the anomaly really is, in pixels")
    add.add_argument("--label", dest="region_label", default="", help="name of the anomaly in --box")
    add.add_argument("--note", default="", help="what the detector should learn, in words")
    add.set_defaults(run=_run_add)

    export = with_store(actions.add_parser("export", help="write the entries as JSON or CSV"))
    export.add_argument("--format", choices=["json", "csv"], default="json")
    export.add_argument("--category")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=_run_export)

    clear = with_store(actions.add_parser("clear", help="delete entries"))
    clear.add_argument("--category", help="only this category (default: all, which needs --all)")
    clear.add_argument("--all", action="store_true", help="delete every category's entries")
    clear.set_defaults(run=_run_clear)


def _store(args: argparse.Namespace) -> FeedbackStore:
    return FeedbackStore(args.store or default_store_path())


def _run_list(args: argparse.Namespace) -> int:
    entries = _store(args).entries(args.category)
    for e in entries:
        verdict = "" if e.correct is None else (" report right" if e.correct else " report wrong")
        where = f" {e.region['box']}" if e.region and e.region.get("box") else ""
        note = f"  {e.note!r}" if e.note else ""
        print(f"{e.id:>5}  {e.created}  {e.category}  {e.label}{verdict}  {e.source or '-'}{where}{note}")
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return 0


def _run_add(args: argparse.Namespace) -> int:
    store = _store(args)
    region = Region(box=tuple(args.box), label=args.region_label) if args.box else None
    if args.label in ("right", "wrong"):
        if args.report is None:
            raise InputError("--right and --wrong judge a saved report: pass --report REPORT.json")
        report = AnomalyReport.from_json(args.report.read_text(encoding="utf-8"))
        entry = store.mark(report, args.label == "right", category=args.category, source=args.path,
                           region=region, note=args.note)
    else:
        if args.report is not None:
            raise InputError("--report goes with --right or --wrong")
        entry = store.add(args.category, args.path, args.label, region=region, note=args.note)
    print(f"feedback {entry} stored in {store.path}")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    text = _store(args).export(args.format, args.category)
    if args.out is None:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"written to {args.out}")
    return 0


def _run_clear(args: argparse.Namespace) -> int:
    if args.category is None and not args.all:
        raise InputError("pass --category NAME, or --all to delete every entry")
    removed = _store(args).clear(args.category)
    print(f"deleted {removed} entr{'y' if removed == 1 else 'ies'}")
    return 0
