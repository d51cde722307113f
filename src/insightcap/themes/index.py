"""A faiss index of embeddings, persisted on disk and updated per session.

The database stays the source of truth (every vector is stored on its insight or passage row too),
so the index can always be rebuilt from it; adding or removing one session never rebuilds it.
Writers hold a file lock, so the web app and a worker process never overwrite each other's update;
readers keep the loaded index in memory and reload it only when the file changed.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

_LOCK = threading.Lock()
_READERS: dict[Path, tuple[tuple[int, int], VectorIndex]] = {}


class IndexMismatch(RuntimeError):
    """The index on disk was built with another embedding model; the message says how to fix it."""


class VectorIndex:
    """Inner-product index over unit vectors (= cosine similarity), keyed by a 64-bit document key."""

    def __init__(self, path: Path, dimension: int | None = None) -> None:
        """Open the index at `path` (or start an empty one); `dimension` None accepts the stored one."""
        self.path = path
        if path.exists():
            self._index = faiss.read_index(str(path))
            if dimension is not None and self._index.d != dimension:
                raise IndexMismatch(
                    f"The search index at {path} holds {self._index.d}-dimensional vectors but the embedding "
                    f"model makes {dimension}-dimensional ones. Run `insightcap reindex` to rebuild it."
                )
        elif dimension is None:
            raise FileNotFoundError(f"No search index at {path}.")
        else:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.dimension = int(self._index.d)

    @classmethod
    def cached(cls, path: Path, dimension: int | None = None) -> VectorIndex:
        """The index for reading, loaded once per process and again only after a writer saved it."""
        stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else (0, 0)
        with _LOCK:
            loaded = _READERS.get(path)
            if loaded is None or loaded[0] != stamp or dimension not in (None, loaded[1].dimension):
                loaded = (stamp, cls(path, dimension))
                _READERS[path] = loaded
            return loaded[1]

    @classmethod
    @contextmanager
    def editing(cls, path: Path, dimension: int | None = None) -> Iterator[VectorIndex]:
        """The index read fresh under an exclusive lock; changes are saved when the block ends."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = cls(path, dimension)
            yield index
            index._save()

    @classmethod
    def build(cls, path: Path, dimension: int, keys: np.ndarray, vectors: np.ndarray) -> VectorIndex:
        """A new index holding exactly `vectors`, written atomically over any old one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                path.unlink()
            index = cls(path, dimension)
            index.replace(remove_ids=[], add_ids=keys, vectors=vectors)
            index._save()
            return index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> list[int]:
        return faiss.vector_to_array(self._index.id_map).tolist()

    def replace(self, remove_ids: Sequence[int], add_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Remove `remove_ids`, then add `vectors` under `add_ids` (saved by `editing`/`build`)."""
        if len(remove_ids):
            self._index.remove_ids(np.asarray(remove_ids, dtype=np.int64))
        if len(add_ids):
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(add_ids, dtype=np.int64)
            )

    def search(self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
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
        scores, ids = self._index.search(vector, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def _save(self) -> None:
        partial = self.path.with_suffix(".partial")
        faiss.write_index(self._index, str(partial))
        os.replace(partial, self.path)
