"""A persistent SQLite call cache: a rerun makes no model call it has already made. Several
processes (the ranks of a multi-process launch) may share one file."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path

from .base import Completion, SamplingParams


def call_key(fingerprint: str, prompt: str, sampling: SamplingParams) -> str:
    payload = "\x1f".join([fingerprint, sampling.key(), prompt])
    return hashlib.sha256(payload.encode()).hexdigest()


BUSY_WAIT_S = 60.0


def _use_wal(conn: sqlite3.Connection) -> None:
    """Write-ahead logging: readers and one writer at a time, across processes. SQLite answers a
    journal-mode change "database is locked" at once, without the busy wait, while another process
    sets up the same new file, so the change is retried until BUSY_WAIT_S."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class CallCache:
    """Key (model fingerprint, prompt, sampling) -> Completion; counts hits and misses."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # a writer waits up to BUSY_WAIT_S for another process's write to end
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_WAIT_S)
        _use_wal(self._conn)
        # a commit per batch without an fsync each: a killed process keeps every committed answer
        # (WAL), only a power loss may drop the last ones, which a rerun asks again
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, model TEXT, completion TEXT)"
        )
        self._conn.commit()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        found: dict[str, Completion] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT key, completion FROM calls WHERE key IN ({marks})", chunk
                ).fetchall()
                found.update({key: Completion.from_json(text) for key, text in rows})
        return found

    def put_many(self, model: str, items: list[tuple[str, Completion]]) -> None:
        """Write answered calls at once, so a run killed later does not pay for them again."""
        with self._lock:
            self._conn.executemany(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?)",
                [(key, model, completion.to_json()) for key, completion in items],
            )
            self._conn.commit()

    def record(self, hits: int, misses: int) -> None:
        with self._lock:
            self.hits += hits
            self.misses += misses

    def stats(self) -> dict[str, int]:
        return {"cache_hits": self.hits, "cache_misses": self.misses}

    def close(self) -> None:
        self._conn.close()
