"""The search encoder: the packaged MiniLM with tuned layers, and the rules for when it applies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from insightcap.config import Settings
from insightcap.search import encoder
from insightcap.search.encoder import SearchLayers, search_embedder, search_layers_path
from insightcap.themes.embed import Embedder, sentence_model
from insightcap.tuned_layers import load_into


def test_the_artefact_holds_only_the_tuned_layers_and_names_its_version() -> None:
    stored = SearchLayers.load(search_layers_path())
    assert stored.base_model == Settings().embedding_model
    assert stored.layers and all(key.startswith("encoder.layer.") for key in stored.layers)
    assert not any("embeddings" in key for key in stored.layers)  # the packaged word pieces are reused
    assert search_layers_path().stat().st_size < 22_000_000
    assert stored.meta["version"] and stored.meta["validation"]["tuned"]


@pytest.mark.slow
def test_search_embeds_with_the_tuned_layers_and_leaves_the_packaged_model_alone() -> None:
    settings = Settings()
    texts = ["what did marketing think of the buttons?", "We should keep the buttons few and large."]
    before = Embedder(settings).encode(texts)
    tuned = search_embedder(settings)
    assert tuned.model_name.startswith(f"{settings.embedding_model}+search-")
    vectors = tuned.encode(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert not np.allclose(vectors, before, atol=1e-3)
    assert np.array_equal(Embedder(settings).encode(texts), before)  # the shared model was copied, not changed


def test_layers_tuned_on_another_model_are_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    foreign = tmp_path / "tuned_layers.npz"
    SearchLayers("another-model", {"encoder.layer.0.output.dense.bias": np.zeros(384)}, {"version": "x"}).save(foreign)
    monkeypatch.setattr(encoder, "search_layers_path", lambda: foreign)
    settings = Settings()
    assert search_embedder(settings).model_name == settings.embedding_model


def test_layers_that_do_not_fit_the_model_fail_with_the_rebuild_command() -> None:
    settings = Settings()
    model = sentence_model(settings.embedding_model, settings.model_cache_dir)
    with pytest.raises(ValueError, match="eval.train_search_encoder"):
        load_into(model[0].auto_model, {"no.such.layer": np.zeros(3)}, "The layers", "eval.train_search_encoder")
