"""The topic head: its gap features, its decoding, its numpy walk of the trees (against sklearn's
own on a real meeting), the trained model file, its topics and speed on a session of several
hours."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from eval.pipeline_inputs import (
    gold_turn_segments,
    qmsum_transcript,
    read_jsonl,
    sentences_and_embeddings,
)
from eval.train_topics import tree_arrays
from insightcap.insights.topic_head import (
    FEATURE_NAMES,
    LONG_MEETING_MINUTES,
    BoostedTrees,
    decode,
    depth_scores,
    gap_features,
    load_topic_head,
)

FIRST_SUBJECT = [
    "The remote control needs a bigger power button.",
    "Users keep losing the remote under the sofa cushions.",
    "A remote that beeps when you clap would help them find it.",
    "The buttons on the remote should glow in the dark.",
]
SECOND_SUBJECT = [
    "So, next item: the budget for the marketing campaign.",
    "We have twelve thousand euros for advertising this quarter.",
    "Television adverts cost far more than online banners.",
    "Most of the budget should go to social media campaigns.",
]


def _climb_depth(values: np.ndarray, position: int) -> float:
    """Hearst's depth by walking: the peaks reached climbing left and right while values rise."""
    peaks = []
    for step in (-1, 1):
        peak, cursor = values[position], position + step
        while 0 <= cursor < len(values) and values[cursor] >= peak:
            peak, cursor = values[cursor], cursor + step
        peaks.append(peak)
    return float(sum(peaks) - 2 * values[position])


def test_one_pass_depth_scores_match_walking_up_each_hill():
    values = np.random.default_rng(0).random(200).round(1)  # rounding makes plateaus
    expected = [_climb_depth(values, position) for position in range(len(values))]
    np.testing.assert_allclose(depth_scores(values), expected)


def test_decoding_keeps_the_most_probable_gaps_a_minimum_distance_apart():
    probabilities = np.full(59, 0.01)  # 60 sentences
    probabilities[[9, 11, 29, 55]] = [0.8, 0.9, 0.7, 0.95]  # gaps before sentences 10, 12, 30, 56
    # 12 beats its neighbour 10; 56 is too close to the end of the session.
    assert decode(probabilities, smoothing=1, threshold=0.5, shortest=8) == [12, 30]
    assert decode(probabilities, smoothing=1, threshold=0.99, shortest=8) == []
    assert decode(probabilities, smoothing=1, threshold=0.99, shortest=8, at_least=1) == [12]


def test_a_change_of_subject_and_speaker_shows_in_the_gap_features():
    texts = FIRST_SUBJECT + SECOND_SUBJECT
    speakers = ["A", "B", "A", "B", "C", "C", "D", "C"]
    # One-hot "embeddings" per subject: similarity across the middle gap is the lowest.
    embeddings = np.repeat(np.eye(2), 4, axis=0)
    features = gap_features(
        texts, speakers, embeddings, cue=np.zeros(len(texts)), semantic_cue=np.zeros(len(texts))
    )
    assert features.shape == (len(texts) - 1, len(FEATURE_NAMES))
    column = {name: position for position, name in enumerate(FEATURE_NAMES)}
    middle = 3  # the gap before sentence 4
    assert features[:, column["embedding_similarity_3"]].argmin() == middle
    assert features[:, column["lexical_similarity_10"]].argmin() == middle
    assert features[middle, column["speaker_mix_similarity"]] == 0.0
    assert np.isfinite(features).all()


@pytest.mark.slow
def test_the_stored_trees_give_sklearns_probabilities_on_a_real_meeting(shared_eval: Path, settings):
    meeting = next(
        row
        for row in read_jsonl(shared_eval / "qmsum" / "train_extra" / "meetings.jsonl")
        if row["meeting_id"] == "Bed004"
    )
    gold = next(
        row["topics"]
        for row in read_jsonl(shared_eval / "qmsum" / "train_extra" / "topics.jsonl")
        if row["meeting_id"] == "Bed004"
    )
    meeting["turns"] = meeting["turns"][:400]
    inputs = qmsum_transcript(meeting)
    sentences, embeddings = sentences_and_embeddings(inputs.transcript, settings)
    texts = [parsed.sentence.text for parsed in sentences]
    head = load_topic_head()
    features = gap_features(
        texts,
        [parsed.sentence.speaker for parsed in sentences],
        embeddings,
        head.cue_probabilities(texts),
        head.semantic_cue_probabilities(embeddings),
    )
    reference = gold_turn_segments(gold, inputs.n_turns)
    segment = reference[[inputs.turn_of_segment[parsed.sentence.segment_index] for parsed in sentences]]
    labels = (segment[1:] != segment[:-1]).astype(int)
    assert labels.any()  # the first 400 turns hold a change of topic
    model = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=7, min_samples_leaf=5, random_state=0)
    model.fit(features, labels)
    trees = BoostedTrees.from_arrays(tree_arrays(model))
    expected = model.predict_proba(features)[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-trees.log_odds(features))), expected, rtol=1e-9, atol=1e-12)
    assert expected.std() > 0  # the trees split: a constant model would match trivially


@pytest.mark.slow
def test_the_semantic_cue_hears_a_new_subject_announced_in_words_it_never_saw(settings):
    from insightcap.themes.embed import Embedder

    announcing = [
        "Right, let's move on to the next item on the agenda, the catering contract.",
        "Okay, the second point I wanted to raise today is the parking allocation.",
        "Now we turn to questions about the hospital's waiting lists.",
    ]
    mid_subject = [
        "Yeah, I think that's right, it would be too heavy.",
        "And the other one was slightly cheaper than that.",
        "Mm, so it would sit on the shelf next to the others.",
    ]
    head = load_topic_head()
    embedder = Embedder(settings)
    heard = [head.semantic_cue_probabilities(embedder.encode(texts)) for texts in (announcing, mid_subject)]
    assert heard[0].min() > heard[1].max()


def test_the_trained_head_gives_a_probability_per_gap_and_describes_its_training():
    head = load_topic_head()
    texts = FIRST_SUBJECT + SECOND_SUBJECT
    embeddings = np.repeat(np.eye(2, len(head.semantic_weights)), 4, axis=0)
    probabilities = head.probabilities(texts, [None] * len(texts), embeddings)
    assert probabilities.shape == (len(texts) - 1,)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    with pytest.raises(ValueError, match="embedding model"):
        head.probabilities(texts, [None] * len(texts), np.repeat(np.eye(2), 4, axis=0))
    assert head.meta["features"] == list(FEATURE_NAMES)
    assert head.meta["cross_validated"]["pk"] < head.meta["no_boundary"]["pk"]


def test_a_three_hour_session_is_segmented_in_seconds():
    rng = np.random.default_rng(1)
    count = 6000
    words = [f"word{number}" for number in range(400)]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(count)]
    speakers = [f"S{number}" for number in rng.integers(0, 6, count)]
    embeddings = rng.normal(size=(count, 384)).astype(np.float32)
    started = time.perf_counter()
    starts = load_topic_head().boundaries(texts, speakers, embeddings, minutes=180.0)
    # About a second on an idle laptop; the bound only catches a cost that grows with n², which
    # at this length would take minutes.
    assert time.perf_counter() - started < 20.0
    assert starts == sorted(starts) and all(0 < start < count for start in starts)


def test_a_long_session_gets_more_topics_not_longer_ones():
    """2.5 hours of 16 subjects, 75 sentences each: kept a tenth of the session apart (120
    sentences), boundaries could make at most ten topics; kept a tenth of a long training
    meeting apart, each subject can be one."""
    head = load_topic_head()
    rng = np.random.default_rng(0)
    subjects, per_subject, minutes = 16, 75, 150.0
    # Embeddings that sound like announcing a subject, for the sentence opening each one.
    announcing = head.semantic_weights / np.linalg.norm(head.semantic_weights)
    texts, speakers, embeddings = [], [], []
    for subject in range(subjects):
        words = [f"subject{subject}word{number}" for number in range(25)]
        direction = rng.normal(size=384)
        direction /= np.linalg.norm(direction)
        for position in range(per_subject):
            opening = "Okay, let's move on to " if position == 0 else ""
            texts.append(opening + " ".join(rng.choice(words, 10)) + ".")
            speakers.append(f"S{(2 * subject + position % 2) % 6}")
            vector = direction + 0.3 * rng.normal(size=384) / np.sqrt(384)
            embeddings.append(vector + (announcing if position == 0 else 0.0))
    embeddings = np.array(embeddings, dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    count = len(texts)
    assert head.shortest_topic(count, minutes) < per_subject < int(head.min_topic_fraction * count)

    starts = head.boundaries(texts, speakers, embeddings, minutes)

    assert len(starts) + 1 > 10
    assert set(starts) <= set(range(per_subject, count, per_subject))
    # A session no longer than a long training meeting keeps the learned share of its length.
    assert head.shortest_topic(count, LONG_MEETING_MINUTES) == int(head.min_topic_fraction * count)


def test_a_long_training_meeting_is_as_long_as_the_constant_says(shared_eval: Path):
    """LONG_MEETING_MINUTES is the 90th percentile of the train_extra meetings' lengths."""
    folder = shared_eval / "qmsum" / "train_extra"
    annotated = {row["meeting_id"] for row in read_jsonl(folder / "topics.jsonl")}
    minutes = [
        qmsum_transcript(meeting).transcript.duration / 60.0
        for meeting in read_jsonl(folder / "meetings.jsonl")
        if meeting["meeting_id"] in annotated
    ]
    assert len(minutes) == 162
    assert np.percentile(minutes, 90) == pytest.approx(LONG_MEETING_MINUTES, abs=0.05)
