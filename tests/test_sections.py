"""The trained section head: it loads, says how it was made, and gets clear real acts right."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.special import log_softmax

from insightcap.config import Settings
from insightcap.insights.features import dense_features
from insightcap.insights.head import (
    TUNED_WEIGHT,
    HiddenLayer,
    SectionHead,
    head_path,
    load_head,
)
from insightcap.insights.nlp import load_nlp
from insightcap.insights.tuned_encoder import TUNED_LAYERS_FILE, TunedEncoder
from insightcap.themes.embed import Embedder, sentence_model

# Real AMI dialogue acts from held-out meetings (never trained on), with unambiguous labels.
CLEAR_ACTS = {
    "ES2006a.A.dialog-act.s9553330.10": "question",  # "whe where do we identify the components of our uh product?"
    "ES2006a.B.dialog-act.s9553330.2": "question",  # "Why are you looking at me?"
    "ES2006d.B.dialog-act.s9553330.246": "idea",  # "I think you should make it more vegetable-like."
    "ES2006b.B.dialog-act.s9553330.25": "idea",  # "so you know, definitely you should be looking at something…"
    "ES2006d.C.dialog-act.s9553330.337": "action_item",  # "I'll leave the room and you can have another go."
    "TS3009c.C.dialog-act.s9553330.195": "action_item",  # "I will design it, we design it later."
}


def test_head_is_small_and_records_how_it_was_trained() -> None:
    head = load_head()
    assert head_path().stat().st_size < 2_000_000
    assert set(head.classes) == {
        "question",
        "idea",
        "action_item",
        "reaction",
        "context",
        "other",
    }
    assert head.meta["held_out_series"] == [
        "ES2006",
        "ES2009",
        "IS1006",
        "TS3009",
        "TS3010",
    ]
    assert len(head.meta["training_data_sha256"]) == 64
    assert head.weights.shape == (
        len(head.vocabulary) + len(head.dense_mean),
        len(head.classes),
    )
    assert head.hidden is not None
    assert head.hidden.weights.shape[0] == head.weights.shape[0]
    assert head.hidden.output_weights.shape[1] == len(head.classes)
    assert head.meta["tuned_layers"] == TUNED_LAYERS_FILE
    # MiniLM's six transformer layers in float16 (20 MB), without its word-piece embeddings: not a
    # copy of the whole model.
    assert (head_path().parent / TUNED_LAYERS_FILE).stat().st_size < 22_000_000


def test_tuned_encoder_holds_only_minilm_transformer_layers() -> None:
    tuned = load_head().tuned
    assert tuned is not None
    assert tuned.base_model == "minilm"
    tuned_layer_numbers = {key.split(".")[2] for key in tuned.layers}
    assert tuned_layer_numbers == {"0", "1", "2", "3", "4", "5"}  # all six of MiniLM's layers
    assert all(key.startswith("encoder.layer.") for key in tuned.layers)
    assert tuned.classifier_weights.shape == (len(load_head().classes), 384)


def _tiny_head(hidden: HiddenLayer | None) -> SectionHead:
    """Two classes over the words "plan" and "ask" and one dense feature."""
    return SectionHead(
        classes=("idea", "question"),
        vocabulary=("ask", "plan"),
        idf=np.ones(2),
        dense_mean=np.zeros(1, dtype=np.float32),
        dense_scale=np.ones(1, dtype=np.float32),
        weights=np.array([[-2.0, 2.0], [2.0, -2.0], [0.0, 0.0]], dtype=np.float32),
        bias=np.zeros(2, dtype=np.float32),
        logit_offsets=np.zeros(2, dtype=np.float32),
        hidden=hidden,
    )


def test_hidden_layer_is_averaged_with_the_linear_model_and_survives_saving(
    tmp_path: Path,
) -> None:
    # One unit that fires on "ask" and votes for question: it agrees with the linear model.
    hidden = HiddenLayer(
        weights=np.array([[4.0], [0.0], [0.0]], dtype=np.float32),
        bias=np.zeros(1, dtype=np.float32),
        output_weights=np.array([[-1.0, 1.0]], dtype=np.float32),
        output_bias=np.zeros(2, dtype=np.float32),
    )
    texts, dense = ["ask", "plan"], np.zeros((2, 1), dtype=np.float32)
    linear, combined = _tiny_head(None), _tiny_head(hidden)
    linear_log = linear.log_probabilities(texts, dense)
    hidden_log = log_softmax(hidden.logits(linear.design_matrix(texts, dense)), axis=1)
    assert np.allclose(
        combined.log_probabilities(texts, dense), (linear_log + hidden_log) / 2
    )
    combined.save(tmp_path / "head.npz")
    reloaded = SectionHead.load(tmp_path / "head.npz")
    assert reloaded.hidden is not None
    probabilities = reloaded.probabilities(texts, dense)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert [reloaded.classes[row.argmax()] for row in probabilities] == ["question", "idea"]
    linear.save(tmp_path / "linear.npz")
    assert SectionHead.load(tmp_path / "linear.npz").hidden is None


def test_tuned_encoder_is_averaged_in_and_reloads_from_beside_the_head(
    tmp_path: Path, settings: Settings
) -> None:
    """A head naming tuned layers in its meta loads them from its own folder and averages them in."""
    base = sentence_model(settings.embedding_model, settings.model_cache_dir)
    top_layer = {
        key: value.numpy()
        for key, value in base[0].auto_model.state_dict().items()
        if key.startswith("encoder.layer.5.")
    }
    rng = np.random.default_rng(0)
    tuned = TunedEncoder(
        base_model=settings.embedding_model,
        layers=top_layer,
        classifier_weights=rng.normal(size=(2, 384)).astype(np.float32),
        classifier_bias=np.zeros(2, dtype=np.float32),
    )
    texts, dense = ["ask", "plan"], np.zeros((2, 1), dtype=np.float32)
    words_only = _tiny_head(None)
    tuned.save(tmp_path / TUNED_LAYERS_FILE)
    replace(words_only, meta={"tuned_layers": TUNED_LAYERS_FILE}).save(tmp_path / "head.npz")
    reloaded = SectionHead.load(tmp_path / "head.npz")
    assert reloaded.tuned is not None
    expected = (1 - TUNED_WEIGHT) * words_only.log_probabilities(
        texts, dense
    ) + TUNED_WEIGHT * tuned.log_probabilities(texts)
    # float16 storage of the layers moves the log-probabilities a little, not the decision
    assert np.allclose(reloaded.log_probabilities(texts, dense), expected, atol=0.05)
    (tmp_path / TUNED_LAYERS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="train_sections"):
        SectionHead.load(tmp_path / "head.npz")


@pytest.mark.slow
def test_head_classifies_clear_held_out_acts(
    shared_eval: Path, settings: Settings
) -> None:
    with (shared_eval / "ami" / "dialogue_acts.jsonl").open(encoding="utf-8") as handle:
        texts = {
            record["da_id"]: record["text"]
            for record in map(json.loads, handle)
            if record["da_id"] in CLEAR_ACTS
        }
    assert texts.keys() == CLEAR_ACTS.keys()
    ordered = list(CLEAR_ACTS)
    spans = [load_nlp(settings)(texts[act])[:] for act in ordered]
    embeddings = Embedder(settings).encode([texts[act] for act in ordered])
    head = load_head()
    probabilities = head.probabilities(
        [texts[act] for act in ordered], dense_features(spans, embeddings)
    )
    predicted = [head.classes[row.argmax()] for row in probabilities]
    assert predicted == [CLEAR_ACTS[act] for act in ordered]
