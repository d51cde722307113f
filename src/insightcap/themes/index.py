"""The search vectors: an append-only log of per-session records on disk, a faiss index in memory.

The database stays the source of truth (every vector is stored on its insight or passage row too),
so the log can always be rebuilt from it. A record says "session S now has exactly these vectors",
so indexing a session appends only that session's vectors (milliseconds at any corpus size) instead
of rewriting the whole index, and a reader that already holds the index applies only the records
appended since it last looked. When superseded records make up most of the file it is compacted
(rewritten with the latest record per session); forgetting a session compacts at once, so its
vectors leave the disk, not just the search.
Writers hold an exclusive file lock and readers a shared one, so a reader never sees a compaction
half done; a record cut short by a crash is ignored, and the next writer drops it.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

from insightcap.storage.files import replacing

_MAGIC = b"IVR1"
# magic, session id length (bytes), number of vectors, dimension
_HEADER = struct.Struct("<4sHIH")
# Compact once the file is this many times the size of its live records (and past a small floor).
_COMPACT_RATIO = 2
_COMPACT_FLOOR = 1 << 20

_LOCK = threading.Lock()
_READERS: dict[Path, VectorIndex] = {}


class IndexMismatch(RuntimeError):
    """The index on disk was built with another embedding model; the message says how to fix it."""


@dataclass(frozen=True)
class _Record:
    session_id: str
    keys: np.ndarray
    dimension: int
    offset: int
    end: int

    @property
    def vectors_at(self) -> int:
        return self.end - len(self.keys) * self.dimension * 4

    def vectors(self, handle: BinaryIO) -> np.ndarray:
        handle.seek(self.vectors_at)
        data = handle.read(self.end - self.vectors_at)
        return np.frombuffer(data, dtype=np.float32).reshape(len(self.keys), self.dimension)


def _read_records(handle: BinaryIO, offset: int) -> Iterator[_Record]:
    """The complete records from `offset` on, read without their vectors (the caller reads those it
    needs); a torn last record (a crash mid-append) ends the log."""
    size = os.fstat(handle.fileno()).st_size
    while True:
        handle.seek(offset)
        header = handle.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        magic, name_length, count, dimension = _HEADER.unpack(header)
        end = offset + _HEADER.size + name_length + count * 8 + count * dimension * 4
        if magic != _MAGIC or end > size:
            return
        name = handle.read(name_length).decode()
        keys = np.frombuffer(handle.read(count * 8), dtype=np.int64)
        yield _Record(name, keys, dimension, offset, end)
        offset = end


def _latest(records: Iterator[_Record]) -> dict[str, _Record]:
    """The last record of each session, in the order those records were written."""
    latest: dict[str, _Record] = {}
    for record in records:
        latest.pop(record.session_id, None)
        latest[record.session_id] = record
    return latest

def _encode(session_id: str, keys: np.ndarray, vectors: np.ndarray, dimension: int) -> bytes:
    name = session_id.encode()
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(keys), dimension)
    return _HEADER.pack(_MAGIC, len(name), len(keys), dimension) + name + keys.tobytes() + vectors.tobytes()


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, mode)
        yield


def _mismatch(path: Path, stored: int, dimension: int) -> IndexMismatch:
    return IndexMismatch(
        f"The search index at {path} holds {stored}-dimensional vectors but the embedding model makes "
        f"{dimension}-dimensional ones. Run `insightcap reindex` to rebuild it."
    )


def _faiss_index(dimension: int) -> faiss.IndexIDMap2:
    """An exact inner-product index holding the vectors as 16-bit floats.

    Searching one query is a single pass over every stored vector, bound by memory bandwidth: half
    the bytes nearly halve it (100,000 vectors in `eval.search_scale`: 6.8 → 4.1 ms), and the index
    holds half the memory. Rounding to 16 bits moves a cosine between unit vectors by under 0.0005;
    `eval.retrieval` gave the same figures to the third decimal. The log on disk keeps 32-bit
    floats, so this choice can change without rebuilding anything.
    """
    quantizer = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexIDMap2(quantizer)


class VectorIndex:
    """Inner-product index over unit vectors (= cosine similarity), keyed by a 64-bit document key."""

    def __init__(self, path: Path, dimension: int | None = None) -> None:
        """Open the log at `path` (or an empty index); `dimension` None accepts the stored one."""
        if not path.exists() and dimension is None:
            raise FileNotFoundError(f"No search index at {path}.")
        self.path = path
        self.dimension = dimension or 0
        self._sessions: dict[str, np.ndarray] = {}
        self._owner: dict[int, str] = {}
        self._index = _faiss_index(max(self.dimension, 1))
        self._identity: tuple[int, int] = (0, 0)
        self._offset = 0
        # faiss must not be searched while records are applied to it (web requests run in threads).
        self._guard = threading.Lock()
        with _locked(path, fcntl.LOCK_SH):
            self._load_all(dimension)

    def _load_all(self, dimension: int | None) -> None:
        """Read the whole log: the latest record of each session, added to faiss one at a time."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            self._identity = (stat.st_ino, stat.st_dev)
            records = list(_read_records(handle, 0))
            self._offset = records[-1].end if records else 0
            latest = _latest(iter(records))
            stored = next((record.dimension for record in latest.values()), dimension or self.dimension)
            if dimension is not None and stored != dimension:
                raise _mismatch(self.path, stored, dimension)
            self.dimension = stored
            self._index = _faiss_index(self.dimension)
            for record in latest.values():
                self._apply(record, record.vectors(handle))

    def _apply(self, record: _Record, vectors: np.ndarray) -> None:
        """Make the record's session hold exactly the record's vectors."""
        previous = self._sessions.pop(record.session_id, np.zeros(0, dtype=np.int64))
        taken = [key for key in record.keys.tolist() if key in self._owner]
        for key in previous.tolist():
            self._owner.pop(key, None)
        for key in taken:  # a reused row id: the older session no longer has it
            owner = self._owner.pop(key, None)
            if owner is not None:
                self._sessions[owner] = self._sessions[owner][self._sessions[owner] != key]
        remove = np.unique(np.concatenate([previous, np.asarray(taken, dtype=np.int64)]))
        if len(remove):
            self._index.remove_ids(remove)
        if len(record.keys):
            self._index.add_with_ids(np.ascontiguousarray(vectors), np.ascontiguousarray(record.keys))
            self._sessions[record.session_id] = record.keys.copy()
            for key in record.keys.tolist():
                self._owner[key] = record.session_id

    def _catch_up(self) -> bool:
        """Apply the records appended since the last look; False when the file was replaced."""
        with _locked(self.path, fcntl.LOCK_SH):
            if not self.path.exists():
                return False
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if (stat.st_ino, stat.st_dev) != self._identity or stat.st_size < self._offset:
                    return False
                for record in _read_records(handle, self._offset):
                    with self._guard:
                        self._apply(record, record.vectors(handle))
                    self._offset = record.end
        return True

    @classmethod
    def cached(cls, path: Path, dimension: int | None = None) -> VectorIndex:
        """The index for reading, loaded once per process; later writes are applied as they come."""
        with _LOCK:
            loaded = _READERS.get(path)
            if loaded is None or dimension not in (None, loaded.dimension) or not loaded._catch_up():
                loaded = cls(path, dimension)
                _READERS[path] = loaded
            return loaded

    @classmethod
    def write_session(
        cls, path: Path, dimension: int, session_id: str, keys: np.ndarray, vectors: np.ndarray
    ) -> None:
        """Replace one session's vectors (none to take it out): one record appended to the log."""
        with _locked(path, fcntl.LOCK_EX):
            with open(path, "ab+") as handle:
                records = list(_read_records(handle, 0))
                if records and records[0].dimension != dimension:
                    raise _mismatch(path, records[0].dimension, dimension)
                complete = records[-1].end if records else 0
                handle.truncate(complete)  # drop a record a crash cut short
                record = _encode(session_id, keys, vectors, dimension)
                handle.write(record)
                handle.flush()
                os.fsync(handle.fileno())
            latest = {record.session_id: record.end - record.offset for record in records}
            latest[session_id] = len(record)
            size = path.stat().st_size
            if size > _COMPACT_FLOOR and size > _COMPACT_RATIO * sum(latest.values()):
                _compact(path)

    @classmethod
    def forget_session(cls, path: Path, session_id: str) -> None:
        """Take a session out and rewrite the log, so its vectors are gone from the disk too (readers
        see a new file and load it afresh)."""
        if not path.exists():
            return
        with _locked(path, fcntl.LOCK_EX):
            _compact(path, without=session_id)

    @classmethod
    def build(cls, path: Path, dimension: int, sessions: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """A new log holding exactly `sessions` (id -> keys, vectors), written atomically over any old one."""
        with _locked(path, fcntl.LOCK_EX), replacing(path) as handle:
            handle.writelines(
                _encode(session_id, keys, vectors, dimension) for session_id, (keys, vectors) in sessions.items()
            )

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> list[int]:
        return faiss.vector_to_array(self._index.id_map).tolist()

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The `k` nearest keys; with `allowed`, only among those keys (exact, not post-filtered)."""
        if len(self) == 0 or (allowed is not None and len(allowed) == 0):
            return []
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        vector = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if vector.shape[1] != self.dimension:
            raise IndexMismatch(
                f"The search index holds {self.dimension}-dimensional vectors but the query has {vector.shape[1]}. "
                "Run `insightcap reindex` to rebuild it with the configured embedding model."
            )
        # One query is a single pass over memory: a second OpenMP thread barely speeds it up, and on a
        # busy machine waiting for it costs several times the search itself. The setting is this
        # thread's own and is put back, so batch embedding (same OpenMP runtime) keeps its threads.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            with self._guard:
                scores, ids = self._index.search(vector, k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]


def _compact(path: Path, without: str | None = None) -> None:
    """Rewrite the log with only the latest record of each session, leaving out the session
    `without` (the caller holds the write lock)."""
    with open(path, "rb") as handle, replacing(path) as out:
        for record in _latest(_read_records(handle, 0)).values():
            if len(record.keys) and record.session_id != without:
                handle.seek(record.offset)
                out.write(handle.read(record.end - record.offset))
