"""The feedback store: entries, guidance, export, integrity under concurrent writers and corruption, Detector use."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import pickle
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genad import AnomalyReport, Detector, ExpertResult, FeedbackStore, Region, Task
from genad._cli import main
from genad.errors import FeedbackStoreError, InputError
from genad.modalities.image import ImageSample
from genad.testing import ScriptedClient

FALSE_ALARM = AnomalyReport(is_anomalous=True, score=0.8, anomaly_type="scratch", source="/parts/b.png")
MISSED = AnomalyReport(is_anomalous=False, score=0.2, source="/parts/d.png")


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "feedback.sqlite")


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, value in (("good", 10), ("confirmed", 20), ("bad", 240)):
        path = tmp_path / f"{name}.png"
        Image.fromarray(np.full((60, 80, 3), value, np.uint8)).save(path)
        out[name] = path
    return out


def test_an_absent_store_reads_empty_and_is_not_created(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "none" / "feedback.sqlite")
    assert store.entries() == [] and store.categories() == {} and store.confirmed_normals("bottle") == []
    assert not (tmp_path / "none" / "feedback.sqlite").exists()


def test_mark_derives_the_true_label_from_the_verdict(store: FeedbackStore) -> None:
    store.mark(FALSE_ALARM, correct=False, category="bottle", note="glare on the rim is normal")
    store.mark(MISSED, correct=False, category="bottle", region=Region(box=(1, 2, 30, 40), label="crack"))
    store.mark(FALSE_ALARM.replace(source="/parts/e.png"), correct=True, category="bottle")
    first, second, third = store.entries("bottle")
    assert (first.label, first.correct, first.claimed, first.note) == ("normal", False, "scratch",
                                                                       "glare on the rim is normal")
    assert second.label == "anomalous" and second.region is not None and second.region["box"] == [1, 2, 30, 40]
    assert third.label == "anomalous" and third.correct is True
    assert store.categories() == {"bottle": 3}


def test_confirmed_normals_follow_the_latest_judgement(store: FeedbackStore) -> None:
    store.add("bottle", "/p/1.png", "normal")
    store.add("bottle", "/p/2.png", "normal")
    store.add("bottle", "/p/1.png", "anomalous")
    store.add("screw", "/p/3.png", "normal")
    assert store.confirmed_normals("bottle") == ["/p/2.png"]
    assert store.confirmed_normals("screw") == ["/p/3.png"]


def test_references_are_capped_to_the_most_recent_and_skip_the_sample(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite", max_references=2)
    paths = []
    for i in range(4):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(paths[-1])
        store.add("bottle", paths[-1], "normal")
    assert store.references("bottle") == paths[2:]
    assert store.references("bottle", exclude=paths[3]) == paths[1:3]


def test_corrections_become_guidance_lines(store: FeedbackStore) -> None:
    store.mark(FALSE_ALARM, correct=False, category="bottle", note="Glare on the rim is normal")
    store.mark(MISSED, correct=False, category="bottle", region=Region(box=(1, 2, 30, 40), label="crack"))
    store.add("bottle", None, "normal", note="Small bubbles in the glass are normal")
    store.add("bottle", "/p/plain.png", "normal")  # teaches nothing beyond a reference
    assert store.guidance("bottle") == [
        "A scratch reported in b.png was confirmed normal by an inspector: Glare on the rim is normal.",
        "d.png was confirmed anomalous by an inspector (crack at box [1, 2, 30, 40]).",
        "Small bubbles in the glass are normal.",
    ]


def test_apply_adds_references_and_criteria_or_rules_once(store: FeedbackStore, images: dict[str, Path]) -> None:
    ok, ref = str(images["confirmed"]), str(images["good"])
    store.add("bottle", ok, "normal", note="Glare is normal")
    task = store.apply(Task("bottle", [ref], "Bottles are round."))
    assert task.references == (ref, ok)
    assert task.criteria == "Bottles are round. Feedback from inspectors on earlier samples: Glare is normal."
    assert task.rules == ()
    assert store.apply(task) == task
    task = store.apply(Task("bottle", rules=["Two labels."]))
    assert (task.criteria, task.rules) == (None, ("Two labels.", "Glare is normal."))
    assert store.apply(task).rules == task.rules
    assert store.apply(Task("screw", [ref])) == Task("screw", (ref,))
    assert store.apply(Task("bottle"), sample=ok).references == ()


def test_confirmed_normals_whose_file_is_gone_are_not_references(store: FeedbackStore,
                                                                  images: dict[str, Path]) -> None:
    store.add("bottle", "/moved/away.png", "normal")
    store.add("bottle", str(images["confirmed"]), "normal")
    assert store.confirmed_normals("bottle") == ["/moved/away.png", str(images["confirmed"])]
    assert store.references("bottle") == [str(images["confirmed"])]


def test_bad_feedback_is_a_typed_error(store: FeedbackStore) -> None:
    with pytest.raises(InputError):
        store.mark(AnomalyReport.failed(ValueError("x")), correct=True, category="bottle")
    with pytest.raises(InputError):
        store.add("bottle", "/p.png", "fine")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        store.add("", "/p.png", "normal")
    with pytest.raises(InputError):
        store.add("bottle", None, "normal")


def test_export_json_and_csv_hold_every_entry(store: FeedbackStore) -> None:
    store.mark(MISSED, correct=False, category="bottle", region=Region(box=(1, 2, 3, 4)), note="a, \"quoted\" note")
    store.add("screw", "/p/s.png", "normal")
    data = json.loads(store.export("json"))
    assert [d["category"] for d in data] == ["bottle", "screw"]
    assert data[0]["region"]["box"] == [1, 2, 3, 4] and data[0]["correct"] is False
    rows = list(csv.DictReader(io.StringIO(store.export("csv"))))
    assert [r["source"] for r in rows] == ["/parts/d.png", "/p/s.png"]
    assert rows[0]["note"] == 'a, "quoted" note' and rows[0]["correct"] == "false" and rows[1]["correct"] == ""
    assert json.loads(rows[0]["region"])["box"] == [1, 2, 3, 4]
    assert len(json.loads(store.export("json", category="screw"))) == 1
    with pytest.raises(InputError):
        store.export("xml")  # type: ignore[arg-type]


def test_clear_one_category_or_all(store: FeedbackStore) -> None:
    store.add("bottle", "/p/1.png", "normal")
    store.add("bottle", "/p/2.png", "normal")
    store.add("screw", "/p/3.png", "normal")
    assert store.clear("bottle") == 2
    assert store.categories() == {"screw": 1}
    assert store.clear() == 1
    assert store.entries() == []


def _write_many(path: str, writer: int, n: int, start: multiprocessing.synchronize.Event) -> None:
    store = FeedbackStore(path, timeout=60.0)
    start.wait()
    for i in range(n):
        store.add(f"cat{i % 3}", f"/w{writer}/{i}.png", "normal", note=f"writer {writer} entry {i}")


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    n = 150
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    workers = [ctx.Process(target=_write_many, args=(path, w, n, start)) for w in (1, 2)]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    entries = FeedbackStore(path).entries()
    assert len(entries) == 2 * n
    assert len({e.id for e in entries}) == 2 * n
    for writer in (1, 2):
        assert {e.source for e in entries if e.source and e.source.startswith(f"/w{writer}/")} == {
            f"/w{writer}/{i}.png" for i in range(n)}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_that_is_not_a_database_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite"
    path.write_bytes(b"this is not an SQLite file at all " * 200)
    store = FeedbackStore(path)
    with pytest.raises(FeedbackStoreError, match="corrupted or not a feedback store"):
        store.entries()
    with pytest.raises(FeedbackStoreError):
        store.add("bottle", "/p.png", "normal")
    assert path.read_bytes().startswith(b"this is not")  # nothing was overwritten


def test_a_damaged_store_is_a_typed_error_not_silent_loss(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite"
    store = FeedbackStore(path)
    for i in range(30):
        store.add("bottle", f"/p/{i}.png", "normal", note="x" * 3000)
    with sqlite3.connect(path) as db:  # fold the WAL into the main file, then damage the file's middle pages
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page:6 * page] = b"\xa5" * (3 * page)
    path.write_bytes(bytes(data))
    with pytest.raises(FeedbackStoreError, match="corrupted"):
        store.entries()


def test_another_sqlite_file_is_not_taken_for_a_store(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE results (x)")
    with pytest.raises(FeedbackStoreError, match="not a feedback store"):
        FeedbackStore(path).add("bottle", "/p.png", "normal")


def test_store_and_detector_pickle(store: FeedbackStore) -> None:
    store.add("bottle", "/p/1.png", "normal")
    clone = pickle.loads(pickle.dumps(Detector(mode="local", feedback=store)))
    assert clone.feedback is not None and clone.feedback.confirmed_normals("bottle") == ["/p/1.png"]


class RecordingExpert:
    """Records the references each call gets; scores 0.9."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def score(self, sample: ImageSample, references: Sequence[ImageSample] = ()) -> ExpertResult:
        self.seen.append([r.name or "" for r in references])
        return ExpertResult(score=0.9, raw_score=1.0)

    def score_many(self, samples: Sequence[ImageSample],
                   references: Sequence[ImageSample] = ()) -> list[ExpertResult]:
        return [self.score(s, references) for s in samples]


def test_local_detection_gets_confirmed_normals_as_references(store: FeedbackStore,
                                                               images: dict[str, Path]) -> None:
    store.add("bottle", str(images["confirmed"]), "normal")
    expert = RecordingExpert()
    detector = Detector(mode="local", experts={"image": expert}, feedback=store)
    detector.detect(images["bad"], category="bottle", references=[images["good"]])
    detector.detect(images["confirmed"], category="bottle", references=[images["good"]])
    detector.detect(images["bad"], category="screw", references=[images["good"]])
    detector.detect_many([images["bad"]], category="bottle", references=[images["good"]], progress=False)
    good, confirmed = str(images["good"]), str(images["confirmed"])
    assert expert.seen == [[good, confirmed], [good], [good], [good, confirmed]]


def test_vlm_prompt_carries_feedback_references_and_criteria(store: FeedbackStore, images: dict[str, Path]) -> None:
    store.add("bottle", str(images["confirmed"]), "normal")
    store.mark(FALSE_ALARM, correct=False, category="bottle", note="glare on the rim is normal")
    answer: dict[str, object] = {"is_anomalous": False, "score": 0.1, "anomaly_type": None, "regions": [],
                                 "rejected_marks": [], "explanation": "normal"}
    client = ScriptedClient([answer, answer])
    detector = Detector(client=client, mode="vlm", feedback=store)
    detector.detect(images["bad"], category="bottle", references=[images["good"]])
    (message,) = client.calls[0]
    assert len(message.images) == 3  # the given reference, the confirmed normal that exists, the inspected
    learnt = "A scratch reported in b.png was confirmed normal by an inspector: glare on the rim is normal."
    assert learnt in message.text


def test_cli_feedback_add_list_export_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "fb.sqlite")
    report = tmp_path / "report.json"
    report.write_text(FALSE_ALARM.to_json())
    assert main(["feedback", "add", "--store", db, "--category", "bottle", "--normal", "/p/good.png"]) == 0
    assert main(["feedback", "add", "--store", db, "--category", "bottle", "--report", str(report), "--wrong",
                 "--note", "glare"]) == 0
    assert main(["feedback", "add", "--store", db, "--category", "bottle", "--anomalous", "/p/bad.png",
                 "--box", "1", "2", "3", "4", "--label", "crack"]) == 0
    capsys.readouterr()
    assert main(["feedback", "list", "--store", db]) == 0
    listed = capsys.readouterr().out
    assert "3 entries" in listed and "report wrong" in listed and "[1.0, 2.0, 3.0, 4.0]" in listed
    out = tmp_path / "fb.csv"
    assert main(["feedback", "export", "--store", db, "--format", "csv", "--out", str(out)]) == 0
    assert [r["label"] for r in csv.DictReader(out.open())] == ["normal", "normal", "anomalous"]
    assert main(["feedback", "clear", "--store", db]) == 2  # refuses to clear everything without --all
    assert main(["feedback", "clear", "--store", db, "--all"]) == 0
    assert FeedbackStore(db).entries() == []
    assert main(["feedback", "add", "--store", db, "--category", "bottle", "--right"]) == 2
