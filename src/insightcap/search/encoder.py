"""The search encoder: MiniLM fine-tuned to bring a question close to the talk that answers it.

all-MiniLM-L6-v2 learned to place paraphrases together, but a facilitator's question ("what did
Marketing think of the buttons?") and the stretch of meeting that answers it are not paraphrases.
Its six transformer layers were fine-tuned on QMSum's train_extra questions and the passages of
their answers (eval/train_search_encoder.py; figures in models/search_encoder/README.md).

The search index's vectors (passages and insights) and the queries are embedded with it. Nothing
else is: its space groups talk by meeting (the median cosine distance between passages is 0.36
against the packaged model's 0.75), which merged a program's recurring themes into one, so themes
cluster a second vector stored on each row by the packaged model (search/indexing.py, RowEncoders),
and everything trained on the packaged MiniLM (sections, summary, follow-up checks) keeps it too.
When another embedding model is configured, the tuned layers do not fit it, and search uses that
model as it is.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from insightcap.config import Settings
from insightcap.resources import (
    meta_array,
    read_meta,
    require_model_file,
    save_model_arrays,
    trained_model_file,
)
from insightcap.themes.embed import Embedder, sentence_model
from insightcap.tuned_layers import layer_arrays, load_into, read_layers

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

TRAINER = "eval.train_search_encoder"


def search_layers_path() -> Path:
    return trained_model_file("search_encoder", "tuned_layers.npz")


@dataclass(frozen=True)
class SearchLayers:
    """The tuned parameters by state-dict key, the model they were tuned on, and how."""

    base_model: str
    layers: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        save_model_arrays(path, {
            "base_model": np.array(self.base_model),
            "meta": meta_array(self.meta),
            **layer_arrays(self.layers),
        })

    @classmethod
    def load(cls, path: Path) -> SearchLayers:
        require_model_file(path, "The search encoder's tuned layers", TRAINER)
        with np.load(path, allow_pickle=False) as stored:
            return cls(base_model=str(stored["base_model"]), layers=read_layers(stored), meta=read_meta(stored))


@lru_cache(maxsize=2)
def _tuned_model(base_model: str, cache_dir: Path, path: Path) -> tuple[str, SentenceTransformer] | None:
    """The packaged model with the tuned layers loaded, and the name the index records for it;
    None when the layers were tuned on another model than `base_model`."""
    tuned = SearchLayers.load(path)
    if tuned.base_model != base_model:
        return None
    model = copy.deepcopy(sentence_model(base_model, cache_dir))
    load_into(model[0].auto_model, tuned.layers, "The search encoder's tuned layers", TRAINER)
    model.eval()
    # A rebuilt encoder is another model: the index records its version, so old vectors are redone.
    return f"{base_model}+search-{tuned.meta['version']}", model


def search_embedder(settings: Settings) -> Embedder:
    """The embedder of the search index and of queries (see the module docstring)."""
    tuned = _tuned_model(settings.embedding_model, settings.model_cache_dir, search_layers_path())
    if tuned is None:
        return Embedder(settings)
    name, model = tuned
    return Embedder(settings, model=model, model_name=name)
