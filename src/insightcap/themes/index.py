"""A faiss index of insight embeddings, persisted on disk and updated per session.

The database stays the source of truth (vectors are stored on the insight rows too), so the index
can always be rebuilt from it; adding or removing one session never rebuilds the whole index.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import faiss
import numpy as np

_LOCK = threading.Lock()


class VectorIndex:
    """Inner-product index over unit vectors (= cosine similarity), keyed by insight row id."""

    def __init__(self, path: Path, dimension: int) -> None:
        self.path = path
        self.dimension = dimension
        if path.exists():
            self._index = faiss.read_index(str(path))
        else:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> list[int]:
        return faiss.vector_to_array(self._index.id_map).tolist()

    def replace(self, remove_ids: list[int], add_ids: list[int], vectors: np.ndarray) -> None:
        """Remove `remove_ids` and add `vectors` under `add_ids`, then save atomically."""
        with _LOCK:
            if remove_ids:
                self._index.remove_ids(np.asarray(remove_ids, dtype=np.int64))
            if add_ids:
                self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(add_ids, dtype=np.int64))
            self._save()

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if len(self) == 0:
            return []
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        faiss.write_index(self._index, str(partial))
        os.replace(partial, self.path)
