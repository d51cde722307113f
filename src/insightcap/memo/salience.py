"""How much each sentence of a session belongs in its summary: a small head trained on meetings with
human-written summaries (eval/train_summary.py, QMSum; figures in models/summary_head/README.md).

Centrality alone (a sentence's closeness to what its topic keeps coming back to) favours long
rambling sentences that touch everything; people summarising a meeting keep the sentences that
name its subject, its decisions and its recurring terms. The head learns that weighting from
what is computable for any session: the sentence's embedding, its closeness to the session and
its topic (embeddings and TF-IDF), how often its words recur in the session, where it falls, its
length and how much its speaker talks. The head ships with insightcap: a missing file is a broken
installation, reported as such rather than silently summarised a worse way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from insightcap.insights.schema import Sentence, SessionInsights
from insightcap.resources import (
    meta_array,
    read_meta,
    require_model_file,
    save_model_arrays,
    trained_model_file,
)

# Sentences shorter than this are never summary candidates; every feature is computed over the
# candidates (the pool), so scores do not depend on how many "yeah"s a session holds.
POOL_MIN_WORDS = 8
FEATURE_NAMES = (
    "embedding_centrality_session",
    "embedding_centrality_topic",
    "tfidf_centrality_session",
    "tfidf_centrality_topic",
    "embedding_centrality_session_rank",
    "tfidf_centrality_session_rank",
    "recurring_terms",
    "position",
    "position_in_topic",
    "topic_share",
    "log_words",
    "speaker_share",
    "question",
)


def summary_pool(insights: SessionInsights) -> list[Sentence]:
    """The sentences long enough to be summary candidates, in the order they were said."""
    return [sentence for sentence in insights.sentences if len(sentence.text.split()) >= POOL_MIN_WORDS]


def _cosine_to_mean(vectors: np.ndarray) -> np.ndarray:
    centroid = np.asarray(vectors.mean(axis=0)).ravel()
    norm = np.linalg.norm(centroid)
    return np.asarray(vectors @ centroid).ravel() / (norm or 1.0)


def _rank(values: np.ndarray) -> np.ndarray:
    """Each value's rank in the session, 0 (lowest) to 1 (highest): comparable across sessions."""
    if len(values) < 2:
        return np.ones(len(values))
    return np.argsort(np.argsort(values, kind="stable"), kind="stable") / (len(values) - 1)


def topic_rows(pool: Sequence[Sentence], insights: SessionInsights) -> list[np.ndarray]:
    """Rows of the pool in each topic (one topic holding everything when there are none)."""
    row_of = {sentence.index: row for row, sentence in enumerate(pool)}
    groups = [
        np.array([row_of[index] for index in topic.sentence_indices if index in row_of], dtype=int)
        for topic in sorted(insights.topics, key=lambda topic: topic.start)
    ]
    covered = {int(row) for rows in groups for row in rows}
    if not groups or len(covered) < len(pool):
        groups.append(np.array([row for row in range(len(pool)) if row not in covered], dtype=int))
    return [rows for rows in groups if len(rows)]


def salience_features(
    pool: Sequence[Sentence], insights: SessionInsights, embeddings: np.ndarray
) -> np.ndarray:
    """One row of FEATURE_NAMES, then the sentence's embedding, per sentence of `pool`
    (summary_pool of `insights`); `embeddings` are the pool's unit-length sentence embeddings."""
    count = len(pool)
    if count == 0:
        return np.zeros((0, len(FEATURE_NAMES) + embeddings.shape[1]), dtype=np.float32)
    texts = [sentence.text for sentence in pool]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    try:
        tfidf = vectorizer.fit_transform(texts)
    except ValueError:  # nothing but stop words
        tfidf = np.zeros((count, 1))
    analyzer = vectorizer.build_analyzer()
    terms = [analyzer(text) for text in texts]
    frequency = Counter(term for sentence_terms in terms for term in sentence_terms)
    recurring = np.array(
        [np.mean([np.log(frequency[term]) for term in sentence_terms] or [0.0]) for sentence_terms in terms]
    )

    topic_embedding = np.zeros(count)
    topic_tfidf = np.zeros(count)
    position_in_topic = np.zeros(count)
    topic_share = np.zeros(count)
    for rows in topic_rows(pool, insights):
        topic_embedding[rows] = _cosine_to_mean(embeddings[rows])
        topic_tfidf[rows] = _cosine_to_mean(tfidf[rows])
        position_in_topic[rows] = np.arange(len(rows)) / max(len(rows) - 1, 1)
        topic_share[rows] = len(rows) / count

    spoken = Counter()
    for sentence in insights.sentences:
        spoken[sentence.speaker] += len(sentence.text.split())
    total_words = max(sum(spoken.values()), 1)
    last_index = max(max((sentence.index for sentence in insights.sentences), default=0), 1)
    session_embedding = _cosine_to_mean(embeddings)
    session_tfidf = _cosine_to_mean(tfidf)
    handcrafted = np.column_stack(
        [
            session_embedding,
            topic_embedding,
            session_tfidf,
            topic_tfidf,
            _rank(session_embedding),
            _rank(session_tfidf),
            recurring,
            [sentence.index / last_index for sentence in pool],
            position_in_topic,
            topic_share,
            [np.log(len(sentence.text.split())) for sentence in pool],
            [spoken[sentence.speaker] / total_words for sentence in pool],
            [sentence.text.rstrip().endswith("?") for sentence in pool],
        ]
    )
    return np.hstack([handcrafted, embeddings]).astype(np.float32)


@dataclass(frozen=True)
class SalienceHead:
    """A small feed-forward scorer (ReLU between layers; one layer is a linear model) over
    standardised features. `meta` records how it was trained, including the summary's tuned length."""

    feature_mean: np.ndarray
    feature_scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Higher means more likely to be in a human summary; comparable within one session."""
        values = (features[:, : len(self.feature_mean)] - self.feature_mean) / self.feature_scale
        for number, (weights, bias) in enumerate(self.layers):
            values = values @ weights + bias
            if number < len(self.layers) - 1:
                values = np.maximum(values, 0.0)
        return values.ravel()

    def save(self, path: Path) -> None:
        save_model_arrays(
            path,
            {
                "feature_mean": self.feature_mean.astype(np.float32),
                "feature_scale": self.feature_scale.astype(np.float32),
                "meta": meta_array(self.meta),
                **{f"weights_{n}": w.astype(np.float32) for n, (w, _) in enumerate(self.layers)},
                **{f"bias_{n}": b.astype(np.float32) for n, (_, b) in enumerate(self.layers)},
            },
        )

    @classmethod
    def load(cls, path: Path) -> SalienceHead:
        require_model_file(path, "The summary's sentence scorer", "eval.train_summary")
        with np.load(path, allow_pickle=False) as stored:
            depth = sum(1 for name in stored.files if name.startswith("weights_"))
            return cls(
                feature_mean=stored["feature_mean"],
                feature_scale=stored["feature_scale"],
                layers=tuple((stored[f"weights_{n}"], stored[f"bias_{n}"]) for n in range(depth)),
                meta=read_meta(stored),
            )


def salience_head_path() -> Path:
    return trained_model_file("summary_head")


@lru_cache(maxsize=1)
def load_salience_head() -> SalienceHead:
    return SalienceHead.load(salience_head_path())
