"""Human feedback: mark reports right or wrong, per category, in a small local SQLite store.

Later detections of the same category use what was stored (``Detector(feedback=store)``):

- samples confirmed normal become extra normal references (for the local experts they join the memory bank);
- corrections (false alarms, missed anomalies, notes) become extra criteria in the prompt, or extra rules when the
  detection already has rules.

>>> store = FeedbackStore("feedback.sqlite")                            # doctest: +SKIP
>>> report = detector.detect("part.png", category="bottle")             # doctest: +SKIP
>>> store.mark(report, correct=False, category="bottle", note="The glare on the rim is normal")  # doctest: +SKIP
>>> Detector(feedback=store).detect("next.png", category="bottle")      # doctest: +SKIP

The store is safe for several processes writing at once: the file is in WAL mode, each connection waits up to
``timeout`` seconds for a lock, and every write is one ``BEGIN IMMEDIATE`` transaction. A file that is not a
readable feedback store raises :class:`~genad.errors.FeedbackStoreError` instead of losing entries silently.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from genad._report import AnomalyReport, Region
from genad._task import Task
from genad.errors import FeedbackStoreError, InputError

__all__ = ["Feedback", "FeedbackStore"]

Label = Literal["normal", "anomalous"]
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    category TEXT NOT NULL,
    source TEXT,
    label TEXT NOT NULL CHECK (label IN ('normal', 'anomalous')),
    correct INTEGER,
    claimed TEXT,
    region TEXT,
    note TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_category ON feedback (category, id);
"""
_COLUMNS = ("id", "category", "source", "label", "correct", "claimed", "region", "note", "created")


@dataclass(frozen=True)
class Feedback:
    """One stored judgement.

    Parameters
    ----------
    id, category, source
        The entry's number, its category and the sample it is about (a path, or ``None``).
    label
        The truth as the human gave it.
    correct
        Whether the marked report agreed (``None`` for an entry added without a report).
    claimed
        The anomaly type the report claimed.
    region
        A corrected region (a missed anomaly), as :meth:`genad.Region.to_dict` writes it.
    note, created
        The inspector's words and when the entry was made (ISO 8601).
    """

    id: int
    category: str
    source: str | None
    label: Label
    correct: bool | None
    claimed: str | None
    region: dict[str, Any] | None
    note: str
    created: str

    def guidance(self) -> str | None:
        """This entry as one line of prompt criteria, or ``None`` when it teaches nothing beyond a reference."""
        note = self.note.strip().rstrip(".")
        if self.correct is None and self.region is None:
            return note + "." if note else None
        name = os.path.basename(self.source) if self.source else "a sample"
        if self.correct is False and self.label == "normal":
            what = self.claimed or "anomaly"
            article = "An" if what[:1].lower() in "aeiou" else "A"
            text = f"{article} {what} reported in {name} was confirmed normal by an inspector"
        elif self.correct is False or (self.label == "anomalous" and self.region is not None):
            where = _where(self.region)
            text = f"{name} was confirmed anomalous by an inspector" + (f" ({where})" if where else "")
        elif note:
            return note + "."
        else:
            return None
        return text + (f": {note}." if note else ".")


class FeedbackStore:
    """Inspectors' feedback per category, in SQLite, used by later detections of the same category.

    Parameters
    ----------
    path
        The SQLite file (created on first write).
    timeout
        Seconds a connection waits for another writer's lock.
    max_references
        Confirmed normals handed to a detection, the most recent first.
    max_guidance
        Correction lines handed to a detection.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0, max_references: int = 8,
                 max_guidance: int = 10) -> None:
        self.path = path
        self.timeout = timeout
        self.max_references = max_references
        self.max_guidance = max_guidance

    def __repr__(self) -> str:
        return f"FeedbackStore({str(self.path)!r})"

    # -- writing --------------------------------------------------------------------------------------------------

    def mark(self, report: AnomalyReport, correct: bool, *, category: str, source: str | None = None,
             region: Region | None = None, note: str = "") -> int:
        """Record whether ``report`` was right; returns the entry's id.

        The sample's true label is the report's verdict when ``correct`` and the opposite otherwise. ``region``
        is where the anomaly really is (for a missed one); ``source`` defaults to the report's source.
        """
        if not report.ok or report.is_anomalous is None:
            raise InputError("only a report with a verdict can be marked right or wrong")
        truth = bool(report.is_anomalous) == bool(correct)
        return self._insert(category, source or report.source, "anomalous" if truth else "normal", bool(correct),
                            report.anomaly_type if report.is_anomalous else None, region, note)

    def add(self, category: str, source: str | None, label: Label, *, region: Region | None = None,
            note: str = "") -> int:
        """Record a judgement without a report: ``source`` is ``label`` (``"normal"`` or ``"anomalous"``)."""
        if label not in ("normal", "anomalous"):
            raise InputError(f"label must be 'normal' or 'anomalous', not {label!r}")
        if source is None and not note.strip():
            raise InputError("feedback needs a source sample or a note")
        return self._insert(category, source, label, None, None, region, note)

    def clear(self, category: str | None = None) -> int:
        """Delete every entry (of ``category`` when given); returns how many were deleted."""
        with self._write() as db:
            if category is None:
                return db.execute("DELETE FROM feedback").rowcount
            return db.execute("DELETE FROM feedback WHERE category = ?", (category,)).rowcount

    def _insert(self, category: str, source: str | None, label: str, correct: bool | None, claimed: str | None,
                region: Region | None, note: str) -> int:
        if not category:
            raise InputError("feedback needs a category")
        row = (category, None if source is None else str(source), label, correct, claimed,
               None if region is None else json.dumps(region.to_dict()), note,
               datetime.now(timezone.utc).isoformat(timespec="seconds"))
        with self._write() as db:
            cursor = db.execute("INSERT INTO feedback (category, source, label, correct, claimed, region, note, "
                                "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    # -- reading --------------------------------------------------------------------------------------------------

    def entries(self, category: str | None = None) -> list[Feedback]:
        """Every entry (of ``category`` when given), oldest first."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM feedback"
        args: tuple[str, ...] = ()
        if category is not None:
            query += " WHERE category = ?"
            args = (category,)
        with self._read() as db:
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        return [_entry(row) for row in rows]

    def categories(self) -> dict[str, int]:
        """Number of entries per category."""
        with self._read() as db:
            rows = db.execute("SELECT category, COUNT(*) FROM feedback GROUP BY category ORDER BY category")
            return {str(name): int(n) for name, n in rows.fetchall()}

    def confirmed_normals(self, category: str) -> list[str]:
        """Sources whose latest judgement in ``category`` is normal, most recently confirmed last."""
        return _normals(self.entries(category))

    def references(self, category: str, *, exclude: str | None = None) -> list[str]:
        """Up to ``max_references`` confirmed normals for a detection: the most recent whose file still exists,
        never ``exclude``."""
        return self._references(self.entries(category), exclude)

    def guidance(self, category: str) -> list[str]:
        """Up to ``max_guidance`` lines of prompt criteria learnt from corrections (the most recent), no repeats."""
        return self._guidance(self.entries(category))

    def _references(self, entries: list[Feedback], exclude: str | None) -> list[str]:
        chosen: list[str] = []
        for source in reversed(_normals(entries)):
            if len(chosen) >= self.max_references:
                break
            if source != exclude and os.path.isfile(source):
                chosen.append(source)
        return chosen[::-1]

    def _guidance(self, entries: list[Feedback]) -> list[str]:
        lines = [line for e in entries if (line := e.guidance()) is not None]
        unique = list(dict.fromkeys(reversed(lines)))[: max(self.max_guidance, 0)]
        return unique[::-1]

    def apply(self, task: Task, *, sample: Any = None) -> Task:
        """``task`` with its category's feedback added.

        Confirmed normals are appended to the references (minus the inspected ``sample`` itself when it is a
        path); corrections become extra rules when rules are given, else a paragraph appended to the criteria.
        Applying twice changes nothing more. A task without a category is returned as it is.
        """
        if task.category is None:
            return task
        entries = self.entries(task.category)
        exclude = str(sample) if isinstance(sample, (str, Path)) else None
        given = {str(r) for r in task.references if isinstance(r, (str, Path))}
        refs = (*task.references, *(s for s in self._references(entries, exclude) if s not in given))
        rules, criteria = task.rules, task.criteria
        lines = self._guidance(entries)
        if lines and rules:
            rules = (*rules, *(line for line in lines if line not in rules))
        elif lines:
            learnt = "Feedback from inspectors on earlier samples: " + " ".join(lines)
            if not criteria:
                criteria = learnt
            elif learnt not in criteria:
                criteria = f"{criteria.strip()} {learnt}"
        return task.replace(references=refs, criteria=criteria, rules=rules)

    # -- export ---------------------------------------------------------------------------------------------------

    def export(self, format: Literal["json", "csv"] = "json", category: str | None = None) -> str:
        """Every entry (of ``category`` when given) as a JSON list or as CSV with a header row."""
        entries = [asdict(e) for e in self.entries(category)]
        if format == "json":
            return json.dumps(entries, indent=2)
        if format != "csv":
            raise InputError(f"format must be 'json' or 'csv', not {format!r}")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for e in entries:
            writer.writerow({**e, "region": "" if e["region"] is None else json.dumps(e["region"]),
                             "correct": "" if e["correct"] is None else str(e["correct"]).lower()})
        return buf.getvalue()

    # -- the file -------------------------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        if not Path(self.path).exists():  # nothing stored yet: read an empty store without creating the file
            empty = sqlite3.connect(":memory:")
            empty.executescript(_SCHEMA)
            yield empty
            empty.close()
            return
        with self._connect() as db:
            yield db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection to a checked store; SQLite failures become :class:`~genad.errors.FeedbackStoreError`."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            self._prepare(db)
            yield db
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                message = f"feedback store {self.path} stayed locked for {self.timeout} s: {exc}"
                raise FeedbackStoreError(message) from exc
            raise FeedbackStoreError(f"feedback store {self.path} cannot be used: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise FeedbackStoreError(f"feedback store {self.path} is corrupted or not a feedback store: {exc}") from exc
        finally:
            if db is not None:
                db.close()

    def _use_wal(self, db: sqlite3.Connection) -> None:
        """Switch the file to write-ahead logging. SQLite answers "locked" at once, without waiting for the busy
        timeout, when another process holds the file while the mode changes; so retry until the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Check the file and create the table on first use (once per file, under the write lock)."""
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise FeedbackStoreError(f"feedback store {self.path} is corrupted: {check}")
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise FeedbackStoreError(f"feedback store {self.path} has schema version {version}; this genad reads "
                                     f"version {SCHEMA_VERSION}")
        self._use_wal(db)
        db.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if int(db.execute("PRAGMA user_version").fetchone()[0]) == 0:
                if tables - {"feedback", "sqlite_sequence"}:
                    raise FeedbackStoreError(f"{self.path} is an SQLite file but not a feedback store "
                                             f"(tables: {', '.join(sorted(tables))})")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _normals(entries: list[Feedback]) -> list[str]:
    latest: dict[str, str] = {}
    for entry in entries:
        if entry.source is not None:
            latest.pop(entry.source, None)
            latest[entry.source] = entry.label
    return [source for source, label in latest.items() if label == "normal"]


def _entry(row: tuple[Any, ...]) -> Feedback:
    data = dict(zip(_COLUMNS, row, strict=True))
    return Feedback(
        id=int(data["id"]), category=data["category"], source=data["source"], label=data["label"],
        correct=None if data["correct"] is None else bool(data["correct"]), claimed=data["claimed"],
        region=None if data["region"] is None else json.loads(data["region"]), note=data["note"],
        created=data["created"],
    )


def _where(region: dict[str, Any] | None) -> str:
    if not region:
        return ""
    label = region.get("label") or "anomaly"
    if region.get("box") is not None:
        return f"{label} at box " + "[" + ", ".join(f"{v:.0f}" for v in region["box"]) + "]"
    if region.get("interval") is not None:
        return f"{label} at {region['interval'][0]}-{region['interval'][1]}"
    return label
