"""Sentence embeddings, loaded once per process from the model named in the settings."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from insightcap.config import Settings
from insightcap.weights import model_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@lru_cache(maxsize=2)
def sentence_model(model_name: str, cache_dir: Path) -> "SentenceTransformer":
    """The packaged sentence-transformers model, loaded once per process (the section head
    also tunes on top of it, insights/tuned_encoder.py)."""
    # Packaged weights must never trigger a hub lookup (there is no network here).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import (
        SentenceTransformer,  # imported late: torch is slow to import
    )
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar would cut into ours
    return SentenceTransformer(str(model_path(model_name, cache_dir)), device="cpu")


class Embedder:
    """Unit-length embeddings, so a dot product is the cosine similarity."""

    def __init__(
        self, settings: Settings, *, model: SentenceTransformer | None = None, model_name: str | None = None
    ) -> None:
        """The configured model, or `model` (named `model_name`) derived from it, such as the
        search encoder (search/encoder.py)."""
        self.model_name = model_name or settings.embedding_model
        self._model = model or sentence_model(settings.embedding_model, settings.model_cache_dir)

    @property
    def dimension(self) -> int:
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)
