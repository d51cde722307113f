"""The trained topic head: how likely each gap between two sentences is the start of a new topic.

Similarity dips alone (TextTiling) only drew level with placing no boundary at all on QMSum's
annotated meetings, because talk dips and recovers constantly while annotators mark a change of
subject only a few times an hour. So every gap is described by what is known at run time for any
session — embedding similarity across the gap at several widths and how deep a valley it sits in,
word overlap and new vocabulary across it, how the mix of speakers changes, where it falls in the
session, how the next sentence opens ("so the next thing…") and what it means (does it sound like
announcing a subject, whatever the subject's words) — and gradient-boosted trees
trained on QMSum's gold topics (eval/train_topics.py) turn that into a probability: trees find
the combinations a linear model cannot ("a deep valley AND an opening cue AND not near the
start"). Boundaries are the most probable gaps above a learned threshold, kept a learned minimum
distance apart: a share of the session, or for a session longer than most training meetings, of
their length (LONG_MEETING_MINUTES), so a long session gets more topics rather than longer ones.
The model is plain arrays in models/topic_head/head.npz (no pickles: the trees are node tables
walked with numpy); figures in its README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from insightcap.resources import read_meta, require_model_file, trained_model_file

# Sentences compared on either side of a gap: a few (a quick turn of the talk), a minute or two,
# and several minutes (a change of subject).
EMBEDDING_WINDOWS = (3, 10, 30)
LEXICAL_WINDOWS = (10, 30)
SPEAKER_WINDOW = 20
# The next few sentences: a topic is often announced a sentence or two after the gap.
CUE_LOOKAHEAD = 3
OPENING_WORDS = 3
# The minimum distance between topic starts is a share of the session (min_topic_fraction, chosen
# by cross-validation on the training meetings), but only of a session as long as a long training
# meeting: beyond that the share is an extrapolation, and would make topics ever longer (at most
# ten in any session: 25-minute themes in a 2.5-hour one). This is the 90th percentile of the 162
# QMSum train_extra meetings' lengths (their spoken turns at reading pace, as
# eval.pipeline_inputs.qmsum_transcript times them; tests/test_topic_head.py recomputes it).
LONG_MEETING_MINUTES = 89.5

FEATURE_NAMES = (
    *(f"embedding_similarity_{w}" for w in EMBEDDING_WINDOWS),
    *(f"embedding_depth_{w}" for w in EMBEDDING_WINDOWS),
    *(f"lexical_similarity_{w}" for w in LEXICAL_WINDOWS),
    "new_vocabulary",
    "speaker_change",
    "speaker_mix_similarity",
    "speaker_share",
    "relative_position",
    "edge_distance",
    "log_sentences",
    "log_words_next",
    "question_before",
    "cue_next",
    "cue_ahead",
    "cue_before",
    "semantic_cue_next",
    "semantic_cue_ahead",
)


def opening(text: str) -> str:
    """The first words of a sentence, lower-cased: where "so", "okay next", "let's move on" sit."""
    return " ".join(text.lower().split()[:OPENING_WORDS])


def cue_vectorizer(vocabulary: list[str] | None = None) -> CountVectorizer:
    """Opening 1–3-grams, the same settings for training and use."""
    return CountVectorizer(
        ngram_range=(1, 3),
        binary=True,
        min_df=5 if vocabulary is None else 1,
        token_pattern=r"(?u)\b\w[\w']*\b",
        vocabulary=vocabulary,
    )


def _window_sums(
    values: np.ndarray, window: int, cumulative: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For every gap i (before row i, i = 1..n-1): the sum of up to `window` rows before and after.

    Pass the rows' cumulative sums (with a leading zero row) to share them between widths."""
    if cumulative is None:
        cumulative = _cumulative(values)
    count = len(values)
    gaps = np.arange(1, count)
    left = cumulative[gaps] - cumulative[np.maximum(0, gaps - window)]
    right = cumulative[np.minimum(count, gaps + window)] - cumulative[gaps]
    return left, right


def _cumulative(values: np.ndarray) -> np.ndarray:
    return np.vstack([np.zeros((1, values.shape[1]), dtype=values.dtype), np.cumsum(values, axis=0)])


def _row_cosine(left: Any, right: Any) -> np.ndarray:
    """Cosine of matching rows of two dense or sparse matrices; 1 where a side is empty."""
    if sparse.issparse(left):
        dot = np.asarray(left.multiply(right).sum(axis=1)).ravel()
        norms = np.sqrt(
            np.asarray(left.multiply(left).sum(axis=1)).ravel()
            * np.asarray(right.multiply(right).sum(axis=1)).ravel()
        )
    else:
        dot = np.einsum("ij,ij->i", left, right)
        norms = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    return np.divide(dot, norms, out=np.ones_like(dot, dtype=float), where=norms > 0)


def _band(count: int, window: int, after: bool) -> sparse.csr_matrix:
    """Rows = gaps 1..n-1, columns = sentences: ones on the `window` sentences before (or after)."""
    rows, columns = [], []
    for offset in range(window):
        gaps = np.arange(1, count)
        sentence = gaps + offset if after else gaps - 1 - offset
        keep = (sentence >= 0) & (sentence < count)
        rows.append(gaps[keep] - 1)
        columns.append(sentence[keep])
    row, column = np.concatenate(rows), np.concatenate(columns)
    return sparse.csr_matrix((np.ones(len(row)), (row, column)), shape=(count - 1, count))


def moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """`values` averaged over `width` neighbours (edges repeated), as long as `values`."""
    if width <= 1 or len(values) < width:
        return values
    kernel = np.ones(width) / width
    return np.convolve(np.pad(values, width // 2, mode="edge"), kernel, mode="valid")


def depth_scores(similarities: np.ndarray) -> np.ndarray:
    """How far each value lies below the peaks reached climbing left and right (Hearst's depth).

    Computed in one pass each way, so a session of thousands of sentences costs no more than a
    short one per gap."""
    count = len(similarities)
    left_peak = similarities.copy()
    right_peak = similarities.copy()
    for position in range(1, count):
        if similarities[position - 1] >= similarities[position]:
            left_peak[position] = left_peak[position - 1]
    for position in range(count - 2, -1, -1):
        if similarities[position + 1] >= similarities[position]:
            right_peak[position] = right_peak[position + 1]
    return left_peak + right_peak - 2 * similarities


def _lexical_features(texts: list[str]) -> list[np.ndarray]:
    """Word overlap across each gap (TF-IDF fitted on the session itself) and the share of the
    words just after the gap not said in the few minutes before it."""
    count = len(texts)
    try:
        weighted = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    except ValueError:  # nothing but stop words
        return [np.ones(count - 1)] * len(LEXICAL_WINDOWS) + [np.zeros(count - 1)]
    features = [
        _row_cosine(_band(count, w, after=False) @ weighted, _band(count, w, after=True) @ weighted)
        for w in LEXICAL_WINDOWS
    ]
    present = (weighted > 0).astype(float)
    seen_before = (_band(count, max(LEXICAL_WINDOWS), after=False) @ present) > 0
    said_after = _band(count, min(LEXICAL_WINDOWS), after=True) @ present
    said_after.data = np.minimum(said_after.data, 1.0)
    total = np.asarray(said_after.sum(axis=1)).ravel()
    old = np.asarray(said_after.multiply(seen_before).sum(axis=1)).ravel()
    features.append(np.divide(total - old, total, out=np.zeros_like(total), where=total > 0))
    return features


def _speaker_features(speakers: list[str | None]) -> list[np.ndarray]:
    """Whether the speaker changes at the gap, how alike the speaker mix is before and after it,
    and how much of the session the next speaker holds (a chair announcing the next item)."""
    count = len(speakers)
    names = sorted({speaker for speaker in speakers if speaker})
    if not names:
        return [np.zeros(count - 1), np.ones(count - 1), np.zeros(count - 1)]
    column = {name: position for position, name in enumerate(names)}
    one_hot = np.zeros((count, len(names)))
    for row, speaker in enumerate(speakers):
        if speaker:
            one_hot[row, column[speaker]] = 1.0
    change = np.array(
        [float(speakers[gap] != speakers[gap - 1]) for gap in range(1, count)]
    )
    left, right = _window_sums(one_hot, SPEAKER_WINDOW)
    share = one_hot.sum(axis=0) / count
    next_share = one_hot[1:] @ share
    return [change, _row_cosine(left, right), next_share]


def _ahead(values: np.ndarray) -> np.ndarray:
    """For every gap: the highest of `values` over the CUE_LOOKAHEAD sentences after it."""
    return np.array([values[gap : gap + CUE_LOOKAHEAD].max() for gap in range(1, len(values))])


def gap_features(
    texts: list[str],
    speakers: list[str | None],
    embeddings: np.ndarray,
    cue: np.ndarray,
    semantic_cue: np.ndarray,
) -> np.ndarray:
    """One row per gap between consecutive sentences (n-1 rows), columns as FEATURE_NAMES.

    `cue` and `semantic_cue` are the cue models' probabilities for each sentence that it opens a
    topic, from its opening words and from its embedding."""
    count = len(texts)
    vectors = np.asarray(embeddings, dtype=np.float32)
    cumulative = _cumulative(vectors)
    similarities = [
        _row_cosine(*_window_sums(vectors, w, cumulative)).astype(np.float64)
        for w in EMBEDDING_WINDOWS
    ]
    depths = [
        depth_scores(moving_average(similarity, max(1, w // 2) | 1))
        for similarity, w in zip(similarities, EMBEDDING_WINDOWS)
    ]
    gaps = np.arange(1, count)
    words = np.array([len(text.split()) for text in texts], dtype=float)
    question = np.array([text.rstrip().endswith("?") for text in texts], dtype=float)
    columns = [
        *similarities,
        *depths,
        *_lexical_features(texts),
        *_speaker_features(speakers),
        gaps / count,
        np.minimum(gaps, count - gaps) / count,
        np.full(count - 1, np.log(count)),
        np.log1p(words[1:]),
        question[:-1],
        cue[1:],
        _ahead(cue),
        cue[:-1],
        semantic_cue[1:],
        _ahead(semantic_cue),
    ]
    return np.column_stack(columns)


TREE_ARRAYS = ("roots", "feature", "threshold", "missing_left", "left", "right", "value")


@dataclass(frozen=True)
class BoostedTrees:
    """Gradient-boosted decision trees as one node table (every tree's nodes concatenated).

    Stored as arrays rather than a pickled sklearn model so the file says what it holds and loads
    on any sklearn version. A node sends a row left when its feature is at most the node's
    threshold (a missing value goes where training sent missing values); a leaf points to itself
    on both sides. The log-odds are the baseline plus the leaves reached, as sklearn's
    HistGradientBoostingClassifier computes them."""

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    baseline: float

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> BoostedTrees:
        """From the `tree_*` arrays as head.npz stores them (eval/train_topics.py::tree_arrays)."""
        return cls(
            **{field: arrays[f"tree_{field}"] for field in TREE_ARRAYS},
            baseline=float(arrays["tree_baseline"]),
        )

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """One value per row; all rows and trees step down together, one level per pass."""
        features = np.asarray(features, dtype=np.float64)
        rows = np.arange(len(features))[:, None]
        node = np.tile(self.roots, (len(features), 1))
        while True:
            following_left, following_right = self.left[node], self.right[node]
            if (following_left == node).all():
                break
            values = features[rows, self.feature[node]]
            go_left = (values <= self.threshold[node]) | (np.isnan(values) & self.missing_left[node])
            node = np.where(go_left, following_left, following_right)
        return self.baseline + self.value[node].sum(axis=1)


@dataclass(frozen=True)
class TopicHead:
    cue_vocabulary: tuple[str, ...]
    cue_weights: np.ndarray
    cue_bias: float
    # Logistic regression on a sentence's MiniLM embedding: does it sound like opening a topic.
    semantic_weights: np.ndarray
    semantic_bias: float
    gap_model: BoostedTrees
    # Decoding, chosen by cross-validation on the training meetings.
    smoothing: int
    threshold: float
    # Of the session's length, up to LONG_MEETING_MINUTES (shortest_topic).
    min_topic_fraction: float
    min_topic_sentences: int
    # A session at least this long always gets its most probable boundary (None: never forced).
    split_minutes: float | None
    meta: dict[str, Any]

    def cue_probabilities(self, texts: list[str]) -> np.ndarray:
        openings = cue_vectorizer(list(self.cue_vocabulary)).transform([opening(t) for t in texts])
        return _sigmoid(openings @ self.cue_weights + self.cue_bias)

    def semantic_cue_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        vectors = np.asarray(embeddings, dtype=np.float64)
        if vectors.shape[1] != len(self.semantic_weights):
            raise ValueError(
                f"The topic head reads {len(self.semantic_weights)}-dimensional sentence embeddings "
                f"(those it was trained on) but got {vectors.shape[1]}: embed with the configured "
                "embedding model, or retrain it with `python -m eval.train_topics`."
            )
        return _sigmoid(vectors @ self.semantic_weights + self.semantic_bias)

    def probabilities(
        self, texts: list[str], speakers: list[str | None], embeddings: np.ndarray
    ) -> np.ndarray:
        """P(a topic starts at sentence i) for i = 1..n-1."""
        features = gap_features(
            texts,
            speakers,
            embeddings,
            self.cue_probabilities(texts),
            self.semantic_cue_probabilities(embeddings),
        )
        return _sigmoid(self.gap_model.log_odds(features))

    def shortest_topic(self, sentences: int, minutes: float) -> int:
        """The fewest sentences between two topic starts, or a start and the session's edge: the
        learned share of the session, or for a session longer than LONG_MEETING_MINUTES, of that
        many minutes' sentences at the session's own pace."""
        if minutes > LONG_MEETING_MINUTES:
            sentences = sentences * LONG_MEETING_MINUTES / minutes
        return max(self.min_topic_sentences, int(self.min_topic_fraction * sentences))

    def boundaries(
        self,
        texts: list[str],
        speakers: list[str | None],
        embeddings: np.ndarray,
        minutes: float,
    ) -> list[int]:
        """Indices of the sentences that start a new topic (0 excluded)."""
        if len(texts) < 2 * self.min_topic_sentences:
            return []
        long_session = self.split_minutes is not None and minutes >= self.split_minutes
        return decode(
            self.probabilities(texts, speakers, embeddings),
            self.smoothing,
            self.threshold,
            self.shortest_topic(len(texts), minutes),
            at_least=1 if long_session else 0,
        )


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def decode(
    probabilities: np.ndarray,
    smoothing: int,
    threshold: float,
    shortest: int,
    at_least: int = 0,
) -> list[int]:
    """The most probable gaps above `threshold`, most probable first, each at least `shortest`
    sentences from the session's edges and from every boundary already taken (non-maximum
    suppression): when unsure, fewer boundaries cost less than misplaced ones. The `at_least`
    most probable admissible gaps are taken whatever their probability."""
    count = len(probabilities) + 1
    smoothed = moving_average(probabilities, smoothing)
    chosen: list[int] = []
    for gap in np.argsort(-smoothed, kind="stable"):
        if smoothed[gap] < threshold and len(chosen) >= at_least:
            break
        start = int(gap) + 1
        if start < shortest or count - start < shortest:
            continue
        if all(abs(start - other) >= shortest for other in chosen):
            chosen.append(start)
    return sorted(chosen)


def head_path() -> Path:
    return trained_model_file("topic_head")


@lru_cache(maxsize=1)
def load_topic_head(path: Path | None = None) -> TopicHead:
    path = path or head_path()
    require_model_file(path, "The topic model", "eval.train_topics")
    with np.load(path, allow_pickle=False) as stored:
        meta = read_meta(stored)
        return TopicHead(
            cue_vocabulary=tuple(str(term) for term in stored["cue_vocabulary"]),
            cue_weights=stored["cue_weights"].astype(np.float64),
            cue_bias=float(stored["cue_bias"]),
            semantic_weights=stored["semantic_weights"].astype(np.float64),
            semantic_bias=float(stored["semantic_bias"]),
            gap_model=BoostedTrees.from_arrays(stored),
            smoothing=int(meta["decoding"]["smoothing"]),
            threshold=float(meta["decoding"]["threshold"]),
            min_topic_fraction=float(meta["decoding"]["min_topic_fraction"]),
            min_topic_sentences=int(meta["decoding"]["min_topic_sentences"]),
            split_minutes=meta["decoding"]["split_minutes"],
            meta=meta,
        )
