"""parse_answer: the JSON contract, its failures, and the lenient reader of plain-language replies."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from genad import parse_answer
from genad._parse import VOCABULARY, FreeTextAnswer, Term, Vocabulary, find_json_object, is_free_text, parse_free_text
from genad.errors import ParseError

CONTRACT = {"is_anomalous": True, "score": 0.8, "anomaly_type": "scratch",
            "regions": [{"image": 2, "box": [1, 2, 3, 4], "label": "scratch", "confidence": 0.7}],
            "rejected_marks": [], "explanation": "a scratch on the cap"}


@pytest.mark.parametrize("text", [
    json.dumps(CONTRACT),
    "```json\n" + json.dumps(CONTRACT, indent=2) + "\n```",
    "Here is my answer:\n" + json.dumps(CONTRACT) + "\nI hope this helps {really}.",
    "```\n" + json.dumps(CONTRACT) + "\n```",
])
def test_contract_json_is_read_wherever_it_sits(text: str) -> None:
    answer = parse_answer(text)
    assert not is_free_text(answer)
    assert answer.is_anomalous
    assert answer.score == 0.8
    assert answer.anomaly_type == "scratch"
    assert answer.regions[0].box == [1, 2, 3, 4]


def test_decoded_data_wins_over_text() -> None:
    answer = parse_answer("not used", {"is_anomalous": False, "score": 0.2})
    assert answer.is_anomalous is False
    assert answer.regions == []


def test_outermost_object_is_taken() -> None:
    assert find_json_object('prose {"is_anomalous": false, "regions": [{"label": "x"}]} tail') == {
        "is_anomalous": False, "regions": [{"label": "x"}]}
    assert find_json_object("no json here, only {braces} in prose") is None


@pytest.mark.parametrize(("obj", "field"), [
    ({"is_anomalous": True, "score": 7}, "score"),
    ({"score": 0.3}, "is_anomalous"),
    ({"is_anomalous": "perhaps"}, "is_anomalous"),
    ({"is_anomalous": True, "regions": "everywhere"}, "regions"),
])
def test_off_contract_json_raises(obj: dict[str, object], field: str) -> None:
    with pytest.raises(ParseError, match=field) as info:
        parse_answer(json.dumps(obj))
    assert info.value.text == json.dumps(obj)
    with pytest.raises(ParseError, match="does not match the contract"):
        parse_answer("", obj)


@pytest.mark.parametrize("text", [
    '{"is_anomalous": true, "score": 0.9, "regions": [',
    '```json\n{"is_anomalous": true, score: 0.9}\n```',
    'Answer: {"is_anomalous": true,, }',
])
def test_malformed_json_raises_instead_of_guessing(text: str) -> None:
    with pytest.raises(ParseError, match="does not decode"):
        parse_answer(text)


@pytest.mark.parametrize("text", [
    "No anomalies or defects were found in the image.",
    "No, the image does not contain anomalies.",
    "The second image does not appear to contain any anomalies or defects.",
    "The bottle appears normal and intact.",
    "I don't see any obvious defects; the surface looks uniform.",
    "The part is in good condition, without visible damage, cracks or missing components.",
    "The lung fields are within normal limits.",
    "The arrangement matches the rules given.",
    "The first image is normal. The second image also appears to be normal.",
])
def test_free_text_normal(text: str) -> None:
    answer = parse_answer(text)
    assert isinstance(answer, FreeTextAnswer)
    assert answer.is_anomalous is False
    assert answer.score is not None
    assert answer.score < 0.5
    assert answer.anomaly_type is None
    assert answer.explanation == text


@pytest.mark.parametrize(("text", "kind"), [
    ("Yes, there is a crack on the rim of the bottle.", "crack"),
    ("The second image contains an anomaly: a foreign object inside the bottle.", "contamination"),
    ("The first image is normal. The second image shows a dent on the left side.", "dent"),
    ("The wick is not centered, which is not typical.", None),
    ("The items do not match the specified rules: the fruit is on the wrong side.", None),
    ("No other defects are visible, but a scratch runs across the cap.", "scratch"),
    ("The other three candles look fine. The bottom right candle is broken.", "broken part"),
])
def test_free_text_anomalous(text: str, kind: str | None) -> None:
    answer = parse_free_text(text)
    assert answer.is_anomalous is True
    assert answer.score is not None
    assert answer.score >= 0.5
    assert answer.anomaly_type == kind


def test_hedges_lower_the_score() -> None:
    plain = parse_free_text("There is a scratch on the cap.")
    hedged = parse_free_text("There might be a slight scratch on the cap.")
    assert plain.is_anomalous
    assert hedged.is_anomalous
    assert plain.score is not None
    assert hedged.score is not None
    assert hedged.score < plain.score


def test_mixed_evidence_is_a_weaker_score() -> None:
    clear = parse_free_text("The cap is cracked. The label is torn.")
    mixed = parse_free_text("The label looks intact. The cap is cracked. The label is torn.")
    assert clear.score is not None
    assert mixed.score is not None
    assert mixed.is_anomalous
    assert 0.5 <= mixed.score < clear.score


def test_conclusion_outweighs_observations() -> None:
    text = ("The cap shows a small mark. The rim has a faint line. "
            "In conclusion, the bottle does not contain any anomalies.")
    assert parse_free_text(text).is_anomalous is False


@pytest.mark.parametrize("text", [
    "The image shows a bottle seen from above.",
    "I cannot help with that request.",
    "It is hard to say whether there are anomalies.",
    "",
])
def test_no_verdict_raises(text: str) -> None:
    with pytest.raises(ParseError, match="no verdict"):
        parse_answer(text)


def test_terms_match_whole_words_in_their_role() -> None:
    uniform = Term("normal", "uniform")
    assert VOCABULARY.matches(uniform, "The surface looks uniform.")
    assert not VOCABULARY.matches(uniform, "The surface looks non-uniform.")
    assert not VOCABULARY.matches(uniform, "A uniform texture.")  # no state verb before it
    assert VOCABULARY.matches(Term("anomaly", "defect*"), "Two defects.")
    assert VOCABULARY.matches(Term("negator", "*n't"), "It doesn't.")
    with pytest.raises(ValueError, match="unknown role"):
        Term("adjective", "fine")


def test_chosen_on_keeps_added_terms_used_in_two_cases() -> None:
    vocabulary = Vocabulary([Term("anomaly", "defect*"), Term("anomaly", "dimple*", general=False),
                             Term("anomaly", "speck*", general=False)])
    chosen = vocabulary.chosen_on({"a": ["A dimple.", "Specks."], "b": ["Dimples here."], "c": ["Fine."]})
    assert [t.text for t in chosen.terms] == ["defect*", "dimple*"]
    assert parse_free_text("There are specks.", vocabulary).is_anomalous
    with pytest.raises(ParseError, match="no verdict"):
        parse_free_text("There are specks.", chosen)


# -- the study's recorded GPT-4V replies (Cao et al. 2023, ../shared/data/paper_cases) ----------------------------

def _expected_verdict(query_label: str, authors_verdict: str) -> bool | None:
    """What the reply said, read off the case: the truth when the authors marked it correct (fully, with extra
    claims, or partially), the opposite when they marked it incorrect, nothing when hedged or missing.

    "incorrect" in the study also covers replies that name an anomaly in the wrong place, so some disagreement
    there is expected and is not a parse error.
    """
    truth = query_label.startswith("anomalous")
    if authors_verdict in ("correct", "correct_with_extra_claims", "partially_correct"):
        return truth
    if authors_verdict.startswith("incorrect"):
        return not truth
    return None


def _paper_cases(shared_data: Path) -> list[dict[str, Any]]:
    return json.loads((shared_data / "paper_cases" / "cases.json").read_text())["cases"]


def _replies_by_case(cases: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {c["id"]: [q["gpt4v_response"] for q in c["queries"] if q.get("gpt4v_response")] for c in cases}


@pytest.mark.shared_data
def test_paper_vocabulary_has_no_phrase_or_added_term_of_a_single_case(shared_data: Path) -> None:
    """The rule of the module doc: a phrase is used by the replies of no case or of two or more; a term added from
    replies by two or more. The shipped vocabulary is then what ``chosen_on`` picks on all cases."""
    replies = _replies_by_case(_paper_cases(shared_data))
    single_case_phrases, thin_added_terms = [], []
    for term in VOCABULARY.terms:
        used = VOCABULARY.cases_using(term, replies)
        if term.is_phrase and len(used) == 1:
            single_case_phrases.append(f"{term.text!r} ({next(iter(used))})")
        if not term.general and len(used) < 2:
            thin_added_terms.append(f"{term.text!r} ({', '.join(sorted(used)) or 'no case'})")
    assert not single_case_phrases, f"phrases used by one case only: {single_case_phrases}"
    assert not thin_added_terms, f"terms added from replies but used by fewer than two cases: {thin_added_terms}"
    assert VOCABULARY.chosen_on(replies).terms == VOCABULARY.terms


@pytest.mark.shared_data
def test_paper_replies_held_out_agreement(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The vocabulary chosen on half of the cases reads the other half's replies to the recorded verdict (the
    split of ``benchmarks/parser_agreement.py``: even cases of cases.json form A, odd ones B). Measured: A -> B
    26/33, B -> A 39/41, together 65/74; the floors allow one or two replies fewer."""
    cases = _paper_cases(shared_data)
    halves = [cases[0::2], cases[1::2]]
    shares = []
    for train, test in (halves, halves[::-1]):
        vocabulary = VOCABULARY.chosen_on(_replies_by_case(train))
        agree = judged = 0
        for case in test:
            for query in case["queries"]:
                expected = _expected_verdict(case["ground_truth"]["query_label"], query["authors_verdict"])
                if expected is None or not query.get("gpt4v_response"):
                    continue
                with contextlib.suppress(ParseError):  # no verdict counts as a disagreement
                    agree += parse_free_text(query["gpt4v_response"], vocabulary).is_anomalous == expected
                judged += 1
        shares.append((agree, judged))
    (ab, nb), (ba, na) = shares
    with capsys.disabled():
        print(f"\npaper cases, held out: chosen on A, read B {ab}/{nb}; chosen on B, read A {ba}/{na}; "
              f"together {ab + ba}/{nb + na}")
    assert ab / nb >= 0.75
    assert ba / na >= 0.90
    assert (ab + ba) / (nb + na) >= 0.85


@pytest.mark.shared_data
def test_every_recorded_paper_reply_gets_a_verdict(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In-sample: the shipped vocabulary, partly chosen on these replies, reads every one to a verdict."""
    cases = _paper_cases(shared_data)
    replies = [(case, q) for case in cases for q in case["queries"] if q.get("gpt4v_response")]
    missing = sum(1 for case in cases for q in case["queries"] if not q.get("gpt4v_response"))
    tally: dict[str, list[int]] = {"correct": [0, 0], "incorrect": [0, 0]}
    disagreements = []
    for case, query in replies:
        answer = parse_answer(query["gpt4v_response"])
        assert is_free_text(answer)
        assert isinstance(answer.is_anomalous, bool)
        expected = _expected_verdict(case["ground_truth"]["query_label"], query["authors_verdict"])
        if expected is None:
            continue
        group = tally["incorrect" if query["authors_verdict"].startswith("incorrect") else "correct"]
        group[0] += answer.is_anomalous == expected
        group[1] += 1
        if answer.is_anomalous != expected:
            disagreements.append(f"{case['id']} {query['setting']}/{query['variant']}")
    agree = sum(g[0] for g in tally.values())
    judged = sum(g[1] for g in tally.values())
    with capsys.disabled():
        print(f"\npaper cases: {len(replies)} replies parsed ({missing} queries have no recorded reply); "
              f"verdict agrees with the case record on {agree}/{judged} "
              f"(marked correct: {tally['correct'][0]}/{tally['correct'][1]}, "
              f"marked incorrect: {tally['incorrect'][0]}/{tally['incorrect'][1]}); "
              f"disagreeing: {', '.join(disagreements) or 'none'}")
    assert agree / judged >= 0.85


def test_unreadable_region_keys_are_dropped_and_the_verdict_stands() -> None:
    answer = parse_answer(json.dumps({"is_anomalous": True, "score": 0.7, "regions": [
        {"image": 2, "box": [1, 2], "interval": [5], "cells": [1.5], "confidence": 2, "label": "dent"},
        {"image": 2, "box": [1, 2, 3, 4], "confidence": 0.6}]}))
    first, second = answer.regions
    assert (first.box, first.interval, first.cells, first.confidence, first.label) == (None, None, None, None, "dent")
    assert first.dropped == ["box [1, 2] (expected 4 numbers)", "interval [5] (expected 2 numbers)",
                             "cells [1.5] (expected whole numbers)", "confidence 2 (expected 0 to 1)"]
    assert second.box == [1, 2, 3, 4] and second.confidence == 0.6 and second.dropped == []
    assert "dropped" not in answer.model_dump()["regions"][0]
