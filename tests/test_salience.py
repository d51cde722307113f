"""The summary's sentence scorer (memo/salience.py) and the selection built on it (memo/summary.py),
on turns of a real QMSum meeting (TS3010a, the remote-control design kick-off)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from insightcap.insights.schema import Sentence, SessionInsights, Topic
from insightcap.memo.overview import background_text, overview
from insightcap.memo.salience import (
    FEATURE_NAMES,
    POOL_MIN_WORDS,
    SalienceHead,
    load_salience_head,
    salience_features,
    summary_pool,
)
from insightcap.memo.summary import SummaryCandidates, topic_extracts
from insightcap.themes.embed import Embedder
from insightcap.transcript.schema import Segment, Transcript

TURNS = range(100, 165)
SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def _session(shared_eval: Path) -> SessionInsights:
    """One sentence per turn (markers removed), two topics split at turn 131, as in tests/test_memo.py."""
    with (shared_eval / "qmsum" / "meetings.jsonl").open(encoding="utf-8") as lines:
        meeting = next(m for m in map(json.loads, lines) if m["meeting_id"] == "TS3010a")
    sentences = []
    for number in TURNS:
        turn = meeting["turns"][number]
        text = re.sub(r"\s+([.,?!])", r"\1", " ".join(re.sub(r"\{\w+\}", " ", turn["text"]).split()))
        start = 5.0 * len(sentences)
        sentences.append(
            Sentence(
                index=len(sentences),
                text=text,
                start=start,
                end=start + 5.0,
                speaker=turn["speaker"],
                segment_index=len(sentences),
            )
        )
    split = 131 - TURNS.start
    topics = [
        Topic(
            index=n, title=title, start=members[0] * 5.0, end=members[-1] * 5.0 + 5.0, sentence_indices=members
        )
        for n, (title, members) in enumerate(
            [("Experiences", list(range(split))), ("Features", list(range(split, len(sentences))))]
        )
    ]
    return SessionInsights(topics=topics, insights=[], sentences=sentences)


@pytest.fixture(scope="module")
def session() -> SessionInsights:
    if not SHARED_EVAL.is_dir():
        pytest.skip("the shared eval data is not beside this checkout")
    return _session(SHARED_EVAL)


@pytest.fixture(scope="module")
def candidates(session: SessionInsights) -> SummaryCandidates:
    from insightcap.config import Settings

    return SummaryCandidates.of(session, Embedder(Settings()))


def test_the_pool_holds_only_sentences_long_enough_to_make_a_point(session):
    pool = summary_pool(session)
    assert pool and all(len(sentence.text.split()) >= POOL_MIN_WORDS for sentence in pool)
    assert len(pool) < len(session.sentences)  # "Mm-hmm." and "Okay." are left out


def test_features_say_where_a_sentence_falls_and_how_much_its_speaker_talks(session):
    pool = summary_pool(session)
    embeddings = np.random.default_rng(0).normal(size=(len(pool), 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    features = salience_features(pool, session, embeddings)
    assert features.shape == (len(pool), len(FEATURE_NAMES) + 8)
    column = {name: features[:, n] for n, name in enumerate(FEATURE_NAMES)}
    assert np.all(np.diff(column["position"]) > 0)
    assert column["position_in_topic"].min() == 0.0 and column["position_in_topic"].max() == 1.0
    assert 0 < column["speaker_share"].min() and column["speaker_share"].max() < 1
    # Each topic's share is the fraction of the pool it holds: summed over rows, 1/(share × pool)
    # counts the topics.
    assert np.isclose(np.sum(1 / (column["topic_share"] * len(pool))), 2.0, atol=1e-3)
    assert np.array_equal(features[:, len(FEATURE_NAMES) :], embeddings)


@pytest.mark.slow
def test_the_trained_head_ranks_the_design_talk_above_small_talk(candidates):
    """Sentences about the remote's features and price outrank the ones about the meeting itself."""
    ranked = [candidates.sentences[row].text for row in np.argsort(-candidates.salience)]
    assert np.all(np.isfinite(candidates.salience)) and len(set(candidates.salience.round(6))) > 1
    top = " ".join(ranked[:5]).lower()
    assert any(word in top for word in ("remote", "button", "control", "euro"))


@pytest.mark.slow
def test_extracts_are_verbatim_in_time_order_within_budget_and_cover_both_topics(candidates, session):
    extracts = topic_extracts(candidates, words=80, min_words=10)
    assert len(extracts) == 2
    said = {sentence.text for sentence in session.sentences}
    for extract in extracts:
        assert [s.start for s in extract] == sorted(s.start for s in extract)
        assert all(sentence.text in said and len(sentence.text.split()) >= 10 for sentence in extract)
    # Each topic stops at the first sentence past its share, so the total stays near the budget.
    longest = max(len(s.text.split()) for s in candidates.sentences)
    assert sum(len(s.text.split()) for e in extracts for s in e) <= 80 + 2 * longest
    # The generator's excerpt (scale 2) holds at least the extract's sentences' worth of words.
    excerpts = topic_extracts(candidates, words=80, scale=2, min_words=10)
    assert sum(len(e) for e in excerpts) >= sum(len(e) for e in extracts)


def test_a_missing_head_tells_the_user_how_to_restore_it(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="reinstall insightcap.*eval.train_summary"):
        SalienceHead.load(tmp_path / "head.npz")


def test_the_packaged_head_round_trips_and_records_its_training(tmp_path: Path):
    head = load_salience_head()
    assert head.meta["chosen"]["model"] and head.meta["training_meetings"]
    head.save(tmp_path / "head.npz")
    again = SalienceHead.load(tmp_path / "head.npz")
    features = np.random.default_rng(1).normal(size=(4, len(head.feature_mean)))
    assert np.allclose(head.scores(features), again.scores(features), atol=1e-5)


TITLES = ["Remote control features", "Budget", "Next meeting"]


@pytest.mark.parametrize(
    ("shown", "named", "left_out"),
    [
        (None, TITLES, []),
        (3, TITLES, []),
        (1, TITLES[:1], TITLES[1:]),
        (0, [], TITLES),
    ],
)
def test_the_overview_counts_every_theme_and_names_the_biggest_ones(shown, named, left_out):
    text = overview(["Ann", "Bob"], 1800.0, TITLES, shown)
    assert text.startswith("2 participants (Ann, Bob) met for 30 minutes and discussed 3 themes")
    assert text.endswith(".") and ". " not in text  # one sentence, as the memo's tests split it
    assert all(title in text for title in named) and not any(title in text for title in left_out)


@pytest.mark.parametrize(("seconds", "length"), [(11.0, "less than a minute"), (60.0, "1 minute"), (1500.0, "25 minutes")])
def test_the_overview_never_rounds_a_short_session_up(seconds, length):
    assert overview(["Ann"], seconds, []).startswith(f"1 participant (Ann) met for {length};")


def test_background_text_is_the_overview_then_the_summary_and_times_a_transcript_without_duration():
    transcript = Transcript(
        segments=[Segment(start=0.0, end=30.0, text="Hello.", speaker="Ann"), Segment(start=30.0, end=125.0, text="Hi.")]
    )
    summary = "Ann: We chose the rubber case. [00:10]"
    text = background_text(transcript, TITLES, summary, shown=1)
    assert text == f"1 participant (Ann) met for 2 minutes and discussed 3 themes, above all {TITLES[0]}. {summary}"
    assert background_text(transcript, [], "", shown=1).endswith("no themes with clear insights were found.")


def test_the_trainer_scores_with_the_same_tokens_as_the_summary_eval():
    """eval/train_summary.py memoises stems for speed; its ROUGE must equal eval/summary.py's."""
    from rouge_score import rouge_scorer
    from rouge_score.tokenizers import DefaultTokenizer

    from eval.train_summary import ROUGE_TYPES, StemCachingTokenizer

    reference = "The team discussed the remote's buttons, its rubber case and the 12.50 euro price."
    candidate = "Industrial Designer: Rubber cases protect remotes; the buttons were discussed again. [03:10]"
    cached = StemCachingTokenizer()
    default = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    assert cached.tokenize(candidate) == DefaultTokenizer(use_stemmer=True).tokenize(candidate)
    assert "rubber" in cached.tokenize(candidate) and "button" in cached.tokenize(candidate)
    ours = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=cached)
    assert ours.score(reference, candidate) == default.score(reference, candidate)
