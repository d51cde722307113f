"""Segmentation scores on hand-made segmentations with known values, and the product's topics on a
real QMSum meeting (ES2006a, AMI) cover every sentence once, in order."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from eval.pipeline_inputs import (
    gold_turn_segments,
    qmsum_transcript,
    read_jsonl,
    sentences_and_embeddings,
)
from eval.topics import join_series, pk, turn_segments, window_size, windowdiff
from insightcap.insights.schema import Sentence
from insightcap.insights.sentences import ParsedSentence
from insightcap.insights.topics import (
    OPENING_MIN_WORDS,
    opening_lines,
    segment_topics,
)

REFERENCE = np.array([0, 0, 0, 0, 1, 1, 1, 1])  # one boundary, before unit 4


def test_a_perfect_segmentation_scores_zero():
    assert pk(REFERENCE, REFERENCE, 2) == 0.0
    assert windowdiff(REFERENCE, REFERENCE, 2) == 0.0


def test_no_boundary_misses_exactly_the_windows_that_span_the_true_one():
    # k = 2: of the 6 windows (0,2) … (5,7), those starting at 2 and 3 straddle the boundary.
    hypothesis = np.zeros(8, dtype=int)
    assert pk(REFERENCE, hypothesis, 2) == pytest.approx(2 / 6)
    assert windowdiff(REFERENCE, hypothesis, 2) == pytest.approx(2 / 6)


def test_a_near_miss_costs_less_than_a_missed_boundary():
    reference = np.repeat([0, 1], 6)  # boundary before unit 6; k = 3 gives 9 windows
    missed = np.zeros(12, dtype=int)
    late = np.repeat([0, 1], [7, 5])  # boundary one unit late
    assert pk(reference, missed, 3) == pytest.approx(3 / 9)
    assert pk(reference, late, 3) == pytest.approx(2 / 9)
    assert windowdiff(reference, late, 3) == pytest.approx(2 / 9)


def test_windowdiff_counts_boundaries_where_pk_only_sees_same_or_different():
    # An extra boundary pair inside a window: Pk sees units 0 and 2 in different segments either
    # way, WindowDiff sees two boundaries where the reference has none.
    reference = np.array([0, 0, 0, 0, 0, 0])
    hypothesis = np.array([0, 1, 2, 2, 2, 2])
    assert pk(reference, hypothesis, 2) == pytest.approx(2 / 4)
    assert windowdiff(reference, hypothesis, 2) == pytest.approx(2 / 4)
    assert window_size(REFERENCE) == 2


def test_gold_topics_with_gaps_and_returns_become_contiguous_segments():
    topics = [{"spans": [[1, 3], [8, 9]]}, {"spans": [[5, 6]]}]
    # Turn 0 joins the first segment, turns 4 and 7 join the one before them; topic 0 returning
    # at turn 8 is a new segment.
    assert gold_turn_segments(topics, 10).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2]


def test_a_series_joined_into_one_session_keeps_its_gold_topics_and_starts_one_at_each_join():
    def meeting(meeting_id: str, texts: list[str]) -> dict:
        turns = [{"idx": i, "speaker": "A", "text": text} for i, text in enumerate(texts)]
        return {"meeting_id": meeting_id, "turns": turns}

    meetings = [meeting("ES2002b", ["c", "d", "e"]), meeting("ES2002a", ["a", "b"]), meeting("Bed002", ["x"])]
    # ES2002b's first turn is outside its topics: it still starts a topic, not ES2002a's last.
    gold = {"ES2002a": [{"spans": [[0, 0]]}, {"spans": [[1, 1]]}], "ES2002b": [{"spans": [[1, 2]]}], "Bed002": []}

    ((session, reference),) = join_series(meetings, gold)

    assert session["meeting_id"] == "ES2002a-b"
    assert [(turn["idx"], turn["text"]) for turn in session["turns"]] == list(enumerate("abcde"))
    assert reference.tolist() == [0, 1, 2, 2, 2]


def test_turns_without_sentences_stay_in_the_topic_before_them():
    # Sentences 0-3 come from turns 0, 0, 2, 3; turn 1 has none; a topic starts at sentence 3.
    assert turn_segments([3], [0, 0, 2, 3], 5).tolist() == [0, 0, 0, 1, 1]


def test_a_themes_opening_lines_are_not_its_shortest_fillers():
    import spacy

    nlp = spacy.blank("en")
    texts = ["I think so.", "We should move the budget review to the first week of every month.",
             "I guess.", "The budget review keeps slipping because nobody owns the spreadsheet."]
    sentences = [
        ParsedSentence(
            Sentence(index=i, text=text, start=10.0 * i, end=10.0 * i + 5, speaker=f"S{i}", segment_index=i),
            nlp(text)[:],
        )
        for i, text in enumerate(texts)
    ]
    # The fillers sit nearest the mean, as the shortest sentences do in real embeddings.
    embeddings = np.array([[1.0, 0.0], [0.6, 0.8], [1.0, 0.0], [0.6, -0.8]])
    lines = opening_lines([0, 1, 2, 3], embeddings, sentences)
    assert [line.text for line in lines] == [texts[1], texts[3]]
    assert all(len(texts[i].split()) >= OPENING_MIN_WORDS for i in (1, 3))
    # Each line keeps who said it and when: the two may be minutes and speakers apart.
    assert [(line.speaker, line.start) for line in lines] == [("S1", 10.0), ("S3", 30.0)]
    # A topic of nothing but short sentences still gets its opening lines.
    assert [line.text for line in opening_lines([0, 2], embeddings, sentences)] == ["I think so.", "I guess."]


@pytest.mark.slow
def test_topics_on_a_real_meeting_are_contiguous_and_cover_every_sentence(shared_eval: Path, settings):
    meeting = next(
        row for row in read_jsonl(shared_eval / "qmsum" / "meetings.jsonl") if row["meeting_id"] == "ES2006a"
    )
    meeting["turns"] = meeting["turns"][:150]
    inputs = qmsum_transcript(meeting)
    sentences, embeddings = sentences_and_embeddings(inputs.transcript, settings)

    topics = segment_topics(sentences, embeddings)

    covered = [index for topic in topics for index in topic.sentence_indices]
    assert covered == list(range(len(sentences)))
    assert all(topic.sentence_indices for topic in topics)
    assert [topic.index for topic in topics] == list(range(len(topics)))
    for before, after in itertools.pairwise(topics):
        assert before.end <= after.start
    assert all(topic.title and topic.keywords for topic in topics)
