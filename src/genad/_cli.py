"""The ``genad`` command: detect, render, demo, eval.

    genad detect PATH [--reference P ...] [--category NAME] [--criteria TEXT|@FILE] [--rule TEXT ...] [--json]
                 [--overlay OUT.png] [--columns A,B] [--option KEY=VALUE ...]
    genad render PATH --out DIR          writes exactly the images a VLM would receive
    genad demo [--out DIR]               offline: the local expert on a bundled synthetic sample
    genad eval DATA_DIR ...              measure on a dataset folder (see ``genad eval --help``)
    genad feedback list|add|export|clear the human-feedback store (see ``genad feedback --help``)
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genad._registry import get_modality, load_sample, modality_names, modality_of
from genad.errors import ConfigurationError, GenadError, InputError, MissingDependencyError

__all__ = ["main"]

_SUBCOMMAND_MODULES = ("genad.eval._cli", "genad._feedback_cli")

_EXAMPLES = """\
examples:
  genad demo                                          offline demo on generated images (no key, no network)
  genad detect part.png -r good.png --category bottle --overlay part_overlay.png
  genad detect part.png --json > report.json          the report as JSON (masks run-length encoded)
  genad detect pump.csv --columns Pressure,Temperature   a series: only these channels
  genad render cloud.ply --out renders/               the images a VLM would receive
  genad eval ../shared/data/mvtec_ad --shots 1 --report report.html
  genad eval DATA --mode vlm --model gpt-4o --base-url https://api.openai.com/v1 --threads 16
  genad eval DATA --workers 4                         score on a local Dask cluster of 4 processes

A VLM is configured with --model and --base-url, or with GENAD_MODEL, GENAD_BASE_URL and GENAD_API_KEY (then the
OPENAI_* variables); without one, 'detect' runs the local expert.
"""

_ENDPOINT_WORDS = ("endpoint", "model name", "API key")
_CLI_ENDPOINT_HINT = ("on the command line: pass --model NAME and --base-url URL, or set GENAD_MODEL, GENAD_BASE_URL "
                      "and GENAD_API_KEY")


def _text_or_file(value: str) -> str:
    """``@path`` reads the text from a file; anything else is the text itself."""
    if value.startswith("@"):
        return Path(value[1:]).read_text(encoding="utf-8").strip()
    return value


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` for a sample loader: VALUE as JSON when it parses, a list when it holds commas, else text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = [v.strip() for v in value.split(",") if v.strip()] if "," in value else value
    return key.strip(), parsed


def _columns(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected column names separated by commas")
    return names


def _add_endpoint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=["auto", "local", "vlm", "hybrid"], default="auto",
                   help="auto: hybrid with an endpoint configured, local without (default)")
    p.add_argument("--model", help="VLM model name (default: $GENAD_MODEL, then $OPENAI_MODEL)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $GENAD_BASE_URL, then $OPENAI_BASE_URL)")
    p.add_argument("--modality", choices=modality_names(),
                   help="force a modality instead of guessing it from the file")


def _add_loader_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--columns", type=_columns, metavar="A,B",
                   help="series: read only these value columns (e.g. leave out a CSV's label columns)")
    p.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword argument for the modality's sample loader (repeatable); VALUE is JSON, or a "
                        "comma-separated list, or text")


def _version() -> str:
    from genad import __version__

    return f"genad {__version__}"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genad", description="Generic anomaly detection and understanding.",
                                     epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="{detect,render,demo,eval,feedback}")

    detect = sub.add_parser("detect", help="detect anomalies in one sample and print the report")
    detect.add_argument("path")
    detect.add_argument("--reference", "-r", action="append", default=[], metavar="P", help="a normal sample")
    detect.add_argument("--category", help="what the sample shows, e.g. 'bottle'")
    detect.add_argument("--criteria", type=_text_or_file, help="human expertise: TEXT or @FILE")
    detect.add_argument("--rule", action="append", default=[], help="a normal rule (repeatable), for logical checks")
    detect.add_argument("--json", action="store_true", help="print the report as JSON")
    detect.add_argument("--overlay", type=Path, metavar="OUT.png",
                        help="save the picture of the report (anomaly map and regions on the sample)")
    detect.add_argument("--verify", action="store_true",
                        help="a second VLM turn checks each claimed region and drops unsupported ones (needs a VLM)")
    detect.add_argument("--feedback", type=Path, metavar="STORE",
                        help="use this feedback store (see 'genad feedback') for the --category")
    _add_endpoint_options(detect)
    _add_loader_options(detect)
    detect.set_defaults(run=_run_detect)

    render = sub.add_parser("render", help="write the images a VLM would receive for a sample")
    render.add_argument("path")
    render.add_argument("--out", required=True, type=Path, help="output folder")
    render.add_argument("--modality", choices=modality_names())
    _add_loader_options(render)
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


def _loader_options(args: argparse.Namespace) -> dict[str, Any]:
    options = dict(args.option)
    if args.columns is not None:
        options["columns"] = args.columns
    return options


def load_with_options(obj: Any, modality: str | None, options: dict[str, Any]) -> Any:
    """``obj`` loaded with the keyword ``options`` for its modality's loader; ``obj`` itself without options.

    The options go to the modality's ``load`` when it takes them, else to the ``from_path`` of the sample class it
    returns (``SeriesSample.from_path(path, columns=[...])``); an option neither takes is an
    :class:`~genad.errors.InputError` naming the ones they do take.
    """
    if not options:
        return obj
    spec = get_modality(modality or modality_of(obj))
    if _takes(spec.load, options):
        return spec.load(obj, **_as_annotated(spec.load, options))
    if isinstance(obj, (str, os.PathLike)):
        reader = getattr(_sample_class(spec, obj), "from_path", None)
        if reader is not None and _takes(reader, options):
            return reader(obj, **_as_annotated(reader, options))
        taken = sorted({*_keywords(spec.load), *_keywords(reader)})
    else:
        taken = sorted(_keywords(spec.load))
    raise InputError(f"the {spec.name} loader takes no option {', '.join(sorted(options))}"
                     + (f"; it takes {', '.join(taken)}" if taken else "; it takes none"))


def _sample_class(spec: Any, obj: Any) -> type:
    """The class ``spec.load`` returns: from its annotation, else by loading ``obj`` once without options."""
    try:
        returned = typing.get_type_hints(spec.load).get("return")
    except Exception:  # unresolvable annotations: fall back to loading
        returned = None
    if isinstance(returned, type):
        return returned
    return type(spec.load(obj))


def _as_annotated(func: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with a single text value made a one-item list where ``func`` annotates a list, tuple or
    sequence (``--option columns=Pressure``)."""
    params = inspect.signature(func).parameters
    out = dict(options)
    for key, value in options.items():
        annotation = str(params[key].annotation) if key in params else ""
        if isinstance(value, str) and any(kind in annotation for kind in ("list[", "tuple[", "Sequence[")):
            out[key] = [value]
    return out


def _keywords(func: Any) -> list[str]:
    """The keyword arguments ``func`` takes besides the object to load and its ``name``."""
    if func is None:
        return []
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return []
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if named and named[0].kind == named[0].POSITIONAL_OR_KEYWORD:
        named = named[1:]  # the object to load
    return [p.name for p in named if p.name != "name"]


def _takes(func: Any, options: dict[str, Any]) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return True
    return all(k in _keywords(func) for k in options)


def _run_detect(args: argparse.Namespace) -> int:
    from genad._detector import Detector

    feedback = None
    if args.feedback is not None:
        from genad._feedback import FeedbackStore

        feedback = FeedbackStore(args.feedback)
    detector = Detector(client=_client(args), mode=args.mode, verify=args.verify,  # type: ignore[arg-type]
                        feedback=feedback)
    if args.verify and detector.resolved_mode() == "local":
        raise ConfigurationError("--verify needs a VLM: pass --model and --base-url (or set GENAD_MODEL, "
                                 "GENAD_BASE_URL and GENAD_API_KEY), or leave out --verify")
    options = _loader_options(args)
    sample = load_with_options(args.path, args.modality, options)
    references = [load_with_options(r, args.modality, options) for r in args.reference]
    report = detector.detect(sample, references=references, category=args.category, criteria=args.criteria,
                             rules=args.rule or None, modality=args.modality)
    if args.overlay is not None and report.ok:
        _save_picture(report.picture(sample), args.overlay)
    if args.json:
        print(report.to_json())
    else:
        print(report)
        if not report.ok:
            print(f"  error: {report.error_type}: {report.error}")
        if report.explanation:
            print(report.explanation)
        if report.ok:
            print("  confidence:", "not stated" if report.confidence is None else
                  f"{report.confidence:.2f} (how often verdicts like this one were right; see the notes)")
        for region in report.regions:
            print("  ", region)
        for note in report.notes:
            print("  note:", note)
        if args.overlay is not None and report.ok:
            print(f"picture written to {args.overlay}")
    return 0 if report.ok else 1


def _save_picture(picture: Any, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(path)


def _run_render(args: argparse.Namespace) -> int:
    from PIL import Image

    loaded = load_with_options(args.path, args.modality, _loader_options(args))
    sample = load_sample(loaded, args.modality)
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


def _message(exc: GenadError) -> str:
    """The one line printed for ``exc``; a missing endpoint also names the command-line options."""
    text = " ".join(str(exc).split())
    if (isinstance(exc, ConfigurationError) and not isinstance(exc, MissingDependencyError)
            and any(w in text for w in _ENDPOINT_WORDS) and "--model" not in text):
        text += f" ({_CLI_ENDPOINT_HINT})"
    return f"genad: {type(exc).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genad`` command; returns the exit code.

    A :class:`~genad.errors.GenadError` prints one line to stderr and returns 2; output cut short by a closed pipe
    (``genad eval ... | head -1``) ends quietly with 141, as a program stopped by SIGPIPE does.
    """
    args = _build_parser().parse_args(argv)
    try:
        code = int(args.run(args))
        sys.stdout.flush()
        return code
    except GenadError as exc:
        print(_message(exc), file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away: send what is left to /dev/null, so the interpreter's last flush does not complain
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
