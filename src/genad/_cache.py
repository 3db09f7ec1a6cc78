"""A :class:`CachedClient` that stores every VLM reply on disk, so a rerun never pays for the same request twice."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

from genad._client import Reply
from genad._messages import Message, messages_digest
from genad._report import Usage

__all__ = ["CachedClient", "request_key"]


class _Client(Protocol):
    @property
    def model(self) -> str: ...

    def complete(self, messages: list[Message], schema: dict[str, Any]) -> Reply: ...


def request_key(model: str, messages: list[Message], schema: dict[str, Any]) -> str:
    """The cache key: SHA-256 of the model, the messages (image bytes included) and the schema's JSON."""
    return messages_digest(model, messages, json.dumps(schema, sort_keys=True))


class CachedClient:
    """Wraps any :class:`~genad.VLMClient` and stores its replies in SQLite as soon as they arrive.

    A reply is keyed by a hash of the model, the messages (image bytes included) and the schema; a stored reply
    comes back with ``cached=True`` and zero usage (nothing was paid for it). The SQLite file is opened on first
    use; the object pickles (the connection is dropped and reopened).

    Parameters
    ----------
    client
        The client that answers what is not stored.
    path
        The SQLite file.

    Attributes
    ----------
    hits_, misses_
        This object's lookups that were and were not in the store.
    """

    def __init__(self, client: _Client, path: str | Path) -> None:
        self.client = client
        self.path = path
        self.hits_ = 0
        self.misses_ = 0
        self._lock_ = threading.Lock()
        self._db_: sqlite3.Connection | None = None

    @property
    def model(self) -> str:
        return self.client.model

    def __repr__(self) -> str:
        return f"CachedClient({self.client!r}, path={str(self.path)!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock_"] = None
        state["_db_"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock_ = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._db_ is None:
            path = Path(self.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
            self._db_ = db
        return self._db_

    def lookup(self, key: str) -> Reply | None:
        """The stored reply for ``key`` (marked cached, zero usage), or ``None``."""
        with self._lock_:
            row = self._db().execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        return Reply(text=data["text"], model=data["model"], data=data["data"], usage=Usage(),
                     latency_s=0.0, response_format=data["response_format"], cached=True)

    def complete(self, messages: list[Message], schema: dict[str, Any]) -> Reply:
        key = request_key(self.client.model, messages, schema)
        stored = self.lookup(key)
        if stored is not None:
            self.hits_ += 1
            return stored
        self.misses_ += 1
        reply = self.client.complete(messages, schema)
        record = {
            "text": reply.text, "model": reply.model, "data": reply.data, "response_format": reply.response_format,
            "usage": {"prompt_tokens": reply.usage.prompt_tokens, "completion_tokens": reply.usage.completion_tokens,
                      "requests": reply.usage.requests},
            "latency_s": reply.latency_s,
        }
        with self._lock_:
            self._db().execute("INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)", (key, json.dumps(record)))
        return reply

    def __len__(self) -> int:
        with self._lock_:
            return int(self._db().execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        with self._lock_:
            if self._db_ is not None:
                self._db_.close()
                self._db_ = None
