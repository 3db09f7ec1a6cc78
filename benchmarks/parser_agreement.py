"""How often the free-text parser reads the verdict the study recorded, with the vocabulary chosen out of sample.

The replies are the 77 GPT-4V replies of the 26 cases in ``../shared/data/paper_cases`` (Cao et al. 2023, read
there, nothing is copied). A reply's expected verdict is the case's ground truth when the authors marked the reply
correct (fully, with extra claims or partially), its opposite when they marked it incorrect, and none when they
marked it hedged (3 replies): the same reading as ``tests/test_parse.py``. A reply read to no verdict counts as a
disagreement.

Split: ``cases.json`` lists the cases grouped by task; counting from 0 in that order, even cases form half A and odd
cases half B, so the halves share no case and each has cases of most tasks (A: 13 cases, 42 replies; B: 13 cases,
35 replies). ``VOCABULARY.chosen_on(A)`` (the general terms, plus the terms added from replies that replies of at
least two cases of A use) reads B, and the other way round; "held out" pools the two. "In-sample" is the shipped
vocabulary (the same choice made on all 26 cases) reading all replies. The parser's rules (clause splitting,
weights, which clauses are skipped) are fixed, not chosen per half.

Intervals are 95 % percentile bootstrap intervals (``genad.metrics.bootstrap_ci``, 2000 resamples) over
replies, and, because the replies of one case share an image and much wording, also over cases.

    python benchmarks/parser_agreement.py [--resamples 2000] [--list]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genad._parse import VOCABULARY, Vocabulary, parse_free_text
from genad.errors import ParseError
from genad.metrics import bootstrap_ci

DATA = Path(os.environ.get("GENAD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@dataclass(frozen=True)
class Reply:
    case: str
    label: str  # "setting/variant"
    half: str  # "A" or "B"
    text: str
    expected: bool | None  # True: anomalous; None: the authors marked the reply hedged


def read_replies(cases_json: Path) -> list[Reply]:
    """Every recorded reply of the study, with its half and expected verdict."""
    replies = []
    for i, case in enumerate(json.loads(cases_json.read_text())["cases"]):
        truth = case["ground_truth"]["query_label"].startswith("anomalous")
        for query in case["queries"]:
            if not query.get("gpt4v_response"):
                continue
            verdict = query["authors_verdict"]
            expected = truth if verdict in ("correct", "correct_with_extra_claims", "partially_correct") \
                else (not truth) if verdict.startswith("incorrect") else None
            replies.append(Reply(case["id"], f"{query['setting']}/{query['variant']}", "AB"[i % 2],
                                 query["gpt4v_response"], expected))
    return replies


def by_case(replies: Sequence[Reply]) -> dict[str, list[str]]:
    """Case id -> reply texts, the form :meth:`Vocabulary.chosen_on` takes."""
    out: dict[str, list[str]] = {}
    for r in replies:
        out.setdefault(r.case, []).append(r.text)
    return out


@dataclass(frozen=True)
class Outcome:
    reply: Reply
    verdict: bool | None  # None: read to no verdict

    @property
    def agrees(self) -> bool:
        return self.verdict is not None and self.verdict == self.reply.expected


def read_all(replies: Sequence[Reply], vocabulary: Vocabulary) -> list[Outcome]:
    """Each reply's verdict under ``vocabulary`` (``None`` when it states none)."""
    outcomes = []
    for r in replies:
        try:
            verdict: bool | None = parse_free_text(r.text, vocabulary).is_anomalous
        except ParseError:
            verdict = None
        outcomes.append(Outcome(r, verdict))
    return outcomes


def agreement(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if len(flags) else float("nan")


def pooled_agreement(cases: Sequence[Sequence[bool]]) -> float:
    return agreement([f for case in cases for f in case])


def row(name: str, outcomes: Sequence[Outcome], terms: int | str, resamples: int) -> str:
    judged = [o for o in outcomes if o.reply.expected is not None]
    flags = [o.agrees for o in judged]
    per_case: dict[str, list[bool]] = {}
    for o in judged:
        per_case.setdefault(o.reply.case, []).append(o.agrees)
    lo, hi = bootstrap_ci(agreement, flags, n_resamples=resamples)
    clo, chi = bootstrap_ci(pooled_agreement, list(per_case.values()), n_resamples=resamples)
    read = sum(o.verdict is not None for o in outcomes)
    return (f"{name:22s} {terms!s:>5s} {read:3d}/{len(outcomes):<3d}   {sum(flags):3d}/{len(flags):<3d} "
            f"{agreement(flags):6.3f}   [{lo:.3f}, {hi:.3f}]   [{clo:.3f}, {chi:.3f}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--list", action="store_true", help="also list the terms chosen and the disagreeing replies")
    args = parser.parse_args(argv)
    cases_json = DATA / "paper_cases" / "cases.json"
    if not cases_json.is_file():
        print(f"paper cases not found at {cases_json}; set GENAD_SHARED_DATA", file=sys.stderr)
        return 2
    replies = read_replies(cases_json)
    halves = {h: [r for r in replies if r.half == h] for h in "AB"}
    chosen = {h: VOCABULARY.chosen_on(by_case(halves[h])) for h in "AB"}
    a_to_b = read_all(halves["B"], chosen["A"])
    b_to_a = read_all(halves["A"], chosen["B"])
    in_sample = read_all(replies, VOCABULARY)
    for h in "AB":
        print(f"half {h}: {len(by_case(halves[h]))} cases, {len(halves[h])} replies, "
              f"{sum(r.expected is not None for r in halves[h])} with an expected verdict")
    print(f"\n{'vocabulary -> replies':22s} terms    read   agree   share   95% CI (replies)   95% CI (cases)")
    print(row("chosen on A -> B", a_to_b, len(chosen["A"].terms), args.resamples))
    print(row("chosen on B -> A", b_to_a, len(chosen["B"].terms), args.resamples))
    print(row("held out (pooled)", a_to_b + b_to_a, "", args.resamples))
    print(row("in-sample (all)", in_sample, len(VOCABULARY.terms), args.resamples))
    if args.list:
        for h in "AB":
            kept = [t.text for t in chosen[h].terms if not t.general]
            print(f"\nterms added from replies, chosen on {h}: {', '.join(kept) or 'none'}")
        for name, outcomes in (("A -> B", a_to_b), ("B -> A", b_to_a), ("in-sample", in_sample)):
            wrong = [o for o in outcomes if o.reply.expected is not None and not o.agrees]
            print(f"\ndisagreeing, {name}:")
            for o in wrong:
                verdict = {True: "anomalous", False: "normal", None: "no verdict"}[o.verdict]
                print(f"  {o.reply.case} {o.reply.label}: read {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
