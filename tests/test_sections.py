"""The trained section head: it loads, says how it was made, and gets clear real acts right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from insightcap.config import Settings
from insightcap.insights.features import dense_features
from insightcap.insights.head import head_path, load_head
from insightcap.insights.nlp import load_nlp
from insightcap.themes.embed import Embedder

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
    assert head_path().stat().st_size < 200_000
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
