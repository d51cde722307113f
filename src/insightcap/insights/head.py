"""The trained section head: a classifier over a sentence's words, embedding and syntax cues.

It is trained by eval/train_sections.py on AMI dialogue acts and saved as plain arrays in
models/section_head/head.npz (no pickles): the word n-gram vocabulary with its idf weights, the
scaling of the dense features, and the weights. Word n-grams sit beside the embedding because
they carry what a sentence embedding blurs ("maybe we could", "I'll"): with them, held-out
macro-F1 rose from 0.63 to 0.65.

A head is a linear model, optionally averaged with a one-hidden-layer network over the same
features (the section head has one, the action head does not): the average beat either model
alone in cross-validation over AMI meeting series (macro-F1 0.687 vs 0.675 linear, 0.681
network) and raised held-out macro-F1 from 0.653 to 0.665 (models/section_head/README.md).
The section head is then averaged with a fine-tuned MiniLM (tuned_encoder.py), which reads how the
words combine rather than which words occur.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import log_softmax
from sklearn.feature_extraction.text import TfidfVectorizer

from insightcap.insights.tuned_encoder import TunedEncoder
from insightcap.resources import (
    meta_array,
    read_meta,
    require_model_file,
    save_model_arrays,
    trained_model_file,
)

# Dense features are standardised, then scaled down so they do not drown the sparse n-grams.
DENSE_WEIGHT = 0.5
# The tuned encoder's share of the section head's log-probabilities: 0.7 beat 0.3 and 0.5 on the
# validation meetings, and tied the encoder alone, with four tuned layers and again with six
# (models/section_head/README.md).
TUNED_WEIGHT = 0.7


def head_path() -> Path:
    return trained_model_file("section_head")


def ngram_vectorizer(
    vocabulary: list[str] | None = None, max_features: int | None = None
) -> TfidfVectorizer:
    """Word 1–3-grams, question marks kept as a token; the same settings for training and use."""
    return TfidfVectorizer(
        ngram_range=(1, 3),
        min_df=3 if vocabulary is None else 1,
        max_features=max_features,
        sublinear_tf=True,
        token_pattern=r"(?u)\b\w+\b|\?",
        vocabulary=vocabulary,
    )


@dataclass(frozen=True)
class HiddenLayer:
    """A one-hidden-layer network (ReLU) over the head's design matrix."""

    weights: np.ndarray  # (features, units)
    bias: np.ndarray
    output_weights: np.ndarray  # (units, classes)
    output_bias: np.ndarray

    def logits(self, design: sparse.csr_matrix) -> np.ndarray:
        units = np.maximum(np.asarray(design @ self.weights) + self.bias, 0.0)
        return units @ self.output_weights + self.output_bias

    def arrays(self) -> dict[str, np.ndarray]:
        """As stored in head.npz; the large first layer in float16 keeps the file small."""
        return {
            "hidden_weights": self.weights.astype(np.float16),
            "hidden_bias": self.bias.astype(np.float32),
            "output_weights": self.output_weights.astype(np.float32),
            "output_bias": self.output_bias.astype(np.float32),
        }

    @classmethod
    def from_arrays(cls, stored: Any) -> HiddenLayer | None:
        """The layer stored by `arrays()`, or None for a linear-only head (the action head)."""
        if "hidden_weights" not in stored:
            return None
        return cls(
            weights=stored["hidden_weights"].astype(np.float32),
            bias=stored["hidden_bias"],
            output_weights=stored["output_weights"],
            output_bias=stored["output_bias"],
        )


@dataclass(frozen=True)
class SectionHead:
    classes: tuple[str, ...]
    vocabulary: tuple[str, ...]
    idf: np.ndarray
    dense_mean: np.ndarray
    dense_scale: np.ndarray
    weights: np.ndarray  # (len(vocabulary) + dense features, classes)
    bias: np.ndarray
    # Added to the logits: per-class offsets tuned on held-apart meetings for macro-F1.
    logit_offsets: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    hidden: HiddenLayer | None = None
    # The section head's fine-tuned MiniLM (tuned_encoder.py), averaged in with weight
    # TUNED_WEIGHT; stored beside head.npz, named by meta["tuned_layers"].
    tuned: TunedEncoder | None = None

    @cached_property
    def _vectorizer(self) -> TfidfVectorizer:
        vectorizer = ngram_vectorizer(list(self.vocabulary))
        vectorizer.idf_ = self.idf
        return vectorizer

    def design_matrix(self, texts: list[str], dense: np.ndarray) -> sparse.csr_matrix:
        scaled = (dense - self.dense_mean) / self.dense_scale * DENSE_WEIGHT
        return sparse.hstack(
            [self._vectorizer.transform(texts), sparse.csr_matrix(scaled)]
        ).tocsr()

    def log_probabilities(self, texts: list[str], dense: np.ndarray) -> np.ndarray:
        """Class log-probabilities before the logit offsets: the linear model's, or its mean with
        the hidden layer's when the head has one, averaged with the tuned encoder's if any."""
        design = self.design_matrix(texts, dense)
        linear = log_softmax(np.asarray(design @ self.weights + self.bias, dtype=np.float64), axis=1)
        words = (
            linear
            if self.hidden is None
            else (linear + log_softmax(self.hidden.logits(design).astype(np.float64), axis=1)) / 2
        )
        if self.tuned is None:
            return words
        return (1 - TUNED_WEIGHT) * words + TUNED_WEIGHT * self.tuned.log_probabilities(texts)

    def probabilities(self, texts: list[str], dense: np.ndarray) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return np.exp(
            log_softmax(self.log_probabilities(texts, dense) + self.logit_offsets, axis=1)
        ).astype(np.float32)

    def save(self, path: Path) -> None:
        save_model_arrays(
            path,
            {
                "classes": np.array(self.classes),
                "vocabulary": np.array(self.vocabulary),
                "idf": self.idf.astype(np.float32),
                "dense_mean": self.dense_mean.astype(np.float32),
                "dense_scale": self.dense_scale.astype(np.float32),
                "weights": self.weights.astype(np.float16),
                "bias": self.bias.astype(np.float32),
                "logit_offsets": self.logit_offsets.astype(np.float32),
                "meta": meta_array(self.meta),
                **(self.hidden.arrays() if self.hidden else {}),
            },
        )

    @classmethod
    def load(cls, path: Path) -> SectionHead:
        require_model_file(path, "The section classifier", "eval.train_sections")
        with np.load(path, allow_pickle=False) as stored:
            meta = read_meta(stored)
            return cls(
                classes=tuple(str(name) for name in stored["classes"]),
                vocabulary=tuple(str(term) for term in stored["vocabulary"]),
                idf=stored["idf"].astype(np.float64),
                dense_mean=stored["dense_mean"],
                dense_scale=stored["dense_scale"],
                weights=stored["weights"].astype(np.float32),
                bias=stored["bias"],
                logit_offsets=stored["logit_offsets"],
                meta=meta,
                hidden=HiddenLayer.from_arrays(stored),
                tuned=(
                    TunedEncoder.load(path.parent / meta["tuned_layers"])
                    if "tuned_layers" in meta
                    else None
                ),
            )


@lru_cache(maxsize=1)
def load_head() -> SectionHead:
    return SectionHead.load(head_path())
