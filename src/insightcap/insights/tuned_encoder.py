"""MiniLM with its transformer layers fine-tuned to tell sections apart: the section head's second opinion.

A frozen sentence embedding averages away the few words that say what an utterance does ("could
we…", "I'll…"); the n-gram head (head.py) sees those words but not how they combine. Fine-tuning
MiniLM's transformer layers on AMI dialogue acts lets attention weigh them in context, and
averaging its class log-probabilities with the n-gram head's raised held-out macro-F1 from 0.665
to 0.699 (models/section_head/README.md). Only the tuned layers and the classifier are stored
(float16, models/section_head/tuned_layers.npz); the rest (the word-piece embeddings) is the
packaged MiniLM, unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from insightcap.config import Settings
from insightcap.resources import (
    meta_array,
    read_meta,
    require_model_file,
    save_model_arrays,
)
from insightcap.tuned_layers import layer_arrays, load_into, read_layers

if TYPE_CHECKING:
    import torch

# Word pieces read per sentence: AMI acts are short, and a longer sentence's opening says most
# about what it does.
MAX_TOKENS = 64
BATCH = 128
# Stored beside the section head's head.npz, which names it in its meta.
TUNED_LAYERS_FILE = "tuned_layers.npz"


def pooled_logits(
    encoder: Any,
    tokenizer: Any,
    texts: list[str],
    weights: torch.Tensor,
    bias: torch.Tensor,
) -> torch.Tensor:
    """Class logits of a batch: a linear classifier on the mean of the encoder's last layer.

    Training (eval/train_section_encoder.py) and the product share it, so the tuned layers always see
    sentences cut and pooled the way they were trained."""
    batch = tokenizer(
        texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
    )
    hidden = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    return pooled @ weights.T + bias


@dataclass(frozen=True)
class TunedEncoder:
    """Tuned parameters by the encoder's state-dict key, and a linear classifier on mean pooling."""

    # The embedding model (models/manifest.toml) whose layers were tuned.
    base_model: str
    layers: dict[str, np.ndarray]
    classifier_weights: np.ndarray  # (classes, hidden)
    classifier_bias: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def _encoder_and_tokenizer(self) -> tuple[Any, Any]:
        """A copy of the packaged base encoder with the tuned layers loaded into it, and the base
        model's tokenizer."""
        from insightcap.themes.embed import sentence_model

        settings = Settings()
        base = sentence_model(self.base_model, settings.model_cache_dir)
        encoder = copy.deepcopy(base[0].auto_model)
        load_into(encoder, self.layers, "The tuned section layers", "eval.train_sections")
        encoder.eval()
        return encoder, base.tokenizer

    def log_probabilities(self, texts: list[str]) -> np.ndarray:
        import torch

        encoder, tokenizer = self._encoder_and_tokenizer
        weights = torch.from_numpy(self.classifier_weights.astype(np.float32))
        bias = torch.from_numpy(self.classifier_bias.astype(np.float32))
        out = np.zeros((len(texts), len(self.classifier_bias)), dtype=np.float64)
        order = np.argsort([len(text) for text in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), BATCH):
                rows = order[start : start + BATCH]
                logits = pooled_logits(
                    encoder, tokenizer, [texts[row] for row in rows], weights, bias
                )
                out[rows] = torch.log_softmax(logits, dim=-1).double().numpy()
        return out

    def save(self, path: Path) -> None:
        save_model_arrays(
            path,
            {
                "base_model": np.array(self.base_model),
                "classifier_weights": self.classifier_weights.astype(np.float32),
                "classifier_bias": self.classifier_bias.astype(np.float32),
                "meta": meta_array(self.meta),
                **layer_arrays(self.layers),
            },
        )

    @classmethod
    def load(cls, path: Path) -> TunedEncoder:
        require_model_file(
            path, "The section classifier's tuned layers", "eval.train_sections"
        )
        with np.load(path, allow_pickle=False) as stored:
            return cls(
                base_model=str(stored["base_model"]),
                layers=read_layers(stored),
                classifier_weights=stored["classifier_weights"],
                classifier_bias=stored["classifier_bias"],
                meta=read_meta(stored),
            )
