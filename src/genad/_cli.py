"""The ``genad`` command: detect, render, demo, eval.

    genad detect PATH [--reference P ...] [--category NAME] [--criteria TEXT|@FILE] [--rule TEXT ...] [--json]
    genad render PATH --out DIR          writes exactly the images a VLM would receive
    genad demo [--out DIR]               offline: the local expert on a bundled synthetic sample
    genad eval DATA_DIR ...              measure on a dataset folder (see ``genad eval --help``)
    genad feedback list|add|export|clear the human-feedback store (see ``genad feedback --help``)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from genad._registry import get_modality, load_sample, modality_names
from genad.errors import GenadError

__all__ = ["main"]

_SUBCOMMAND_MODULES = ("genad.eval._cli", "genad._feedback_cli")


def _text_or_file(value: str) -> str:
    """``@path`` reads the text from a file; anything else is the text itself."""
    if value.startswith("@"):
        return Path(value[1:]).read_text(encoding="utf-8").strip()
    return value


def _add_endpoint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=["auto", "local", "vlm", "hybrid"], default="auto",
                   help="auto: hybrid with an endpoint configured, local without (default)")
    p.add_argument("--model", help="VLM model name (default: $GENAD_MODEL, then $OPENAI_MODEL)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $GENAD_BASE_URL, then $OPENAI_BASE_URL)")
    p.add_argument("--modality", choices=modality_names(),
                   help="force a modality instead of guessing it from the file")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genad", description="Generic anomaly detection and understanding.")
    sub = parser.add_subparsers(dest="command", required=True)

    detect = sub.add_parser("detect", help="detect anomalies in one sample and print the report")
    detect.add_argument("path")
    detect.add_argument("--reference", "-r", action="append", default=[], metavar="P", help="a normal sample")
    detect.add_argument("--category", help="what the sample shows, e.g. 'bottle'")
    detect.add_argument("--criteria", type=_text_or_file, help="human expertise: TEXT or @FILE")
    detect.add_argument("--rule", action="append", default=[], help="a normal rule (repeatable), for logical checks")
    detect.add_argument("--json", action="store_true", help="print the report as JSON")
    detect.add_argument("--verify", action="store_true",
                        help="a second VLM turn checks each claimed region and drops unsupported ones")
    detect.add_argument("--feedback", type=Path, metavar="STORE",
                        help="use this feedback store (see 'genad feedback') for the --category")
    _add_endpoint_options(detect)
    detect.set_defaults(run=_run_detect)

    render = sub.add_parser("render", help="write the images a VLM would receive for a sample")
    render.add_argument("path")
    render.add_argument("--out", required=True, type=Path, help="output folder")
    render.add_argument("--modality", choices=modality_names())
    render.set_defaults(run=_run_render)

    demo = sub.add_parser("demo", help="offline demo on a bundled synthetic sample (no VLM, no network)")
    demo.add_argument("--out", type=Path, default=Path("demo_out"), help="where overlays go (default demo_out/)")
    demo.set_defaults(run=_run_demo)

    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.register(sub)
    return parser


def _client(args: argparse.Namespace) -> object | None:
    if not (args.model or args.base_url):
        return None
    from genad._openai import OpenAIClient

    return OpenAIClient(model=args.model, base_url=args.base_url)


def _run_detect(args: argparse.Namespace) -> int:
    from genad._detector import Detector

    feedback = None
    if args.feedback is not None:
        from genad._feedback import FeedbackStore

        feedback = FeedbackStore(args.feedback)
    detector = Detector(client=_client(args), mode=args.mode, verify=args.verify,  # type: ignore[arg-type]
                        feedback=feedback)
    report = detector.detect(args.path, references=args.reference, category=args.category, criteria=args.criteria,
                             rules=args.rule or None, modality=args.modality)
    if args.json:
        print(report.to_json())
    else:
        print(report)
        if report.explanation:
            print(report.explanation)
        for region in report.regions:
            print("  ", region)
        for note in report.notes:
            print("  note:", note)
    return 0 if report.ok else 1


def _run_render(args: argparse.Namespace) -> int:
    from PIL import Image

    sample = load_sample(args.path, args.modality)
    rendering = get_modality(sample.modality).default_renderer().render(sample)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.path).stem
    for i, image in enumerate(rendering.images, 1):
        path = args.out / f"{stem}_{i:02d}.png"
        Image.fromarray(image).save(path)
        print(path)
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from genad._demo import run_demo

    for report in run_demo(args.out):
        print(report)
    print(f"overlays written to {args.out}/")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genad`` command; returns the exit code."""
    args = _build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except GenadError as exc:
        print(f"genad: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
