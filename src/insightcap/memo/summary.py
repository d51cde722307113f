"""The summary in the memo's background: what was said, topic by topic.

A module of its own because it is the memo's one tuned part: an extractive summariser (the
summary head's salience of each candidate sentence, memo/salience.py, picked topic by topic with
maximal marginal relevance) whose constants eval/train_summary.py chooses by cross-validation on
human meeting summaries, calling the very functions the memo uses. With a generator, each topic is
written as a checked third-person account of a longer excerpt, each of its sentences linked to
the moment that supports it; without one (or when a reply fails the checks), its most salient
sentences are quoted verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from spacy.language import Language

from insightcap.generator.checked import CheckedWriter
from insightcap.insights.nlp import fluent_text
from insightcap.insights.schema import Insight, Section, Sentence, SessionInsights
from insightcap.memo import checks
from insightcap.memo.followups import prompt_instructions
from insightcap.memo.render import format_timestamp
from insightcap.memo.salience import (
    load_salience_head,
    salience_features,
    summary_pool,
    topic_rows,
)
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.resources import prompt_text
from insightcap.themes.embed import Embedder

# Evidence quotes under the background (background_insights): two scored better than one or three
# against human summaries (models/summary_head/README.md).
BACKGROUND_INSIGHTS = 2
# The background's summary: about this many words of what was said, taken from every topic in
# proportion to how long it ran, from sentences long enough to carry a point on their own.
# Maximal marginal relevance: how much a sentence's salience counts against its embedding cosine
# to sentences already picked (1.0 ignores repetition). All three chosen by cross-validation on
# QMSum meetings with human summaries, scoring the whole background (overview, summary and the
# evidence quotes) as eval/summary.py does: human summaries run to about 110 words whatever the
# meeting's length, so a longer summary loses more in precision than it gains in recall; 80 words
# beat 100 for every MMR weight and every ranking compared (eval/train_summary.py,
# models/summary_head/README.md).
SUMMARY_WORDS = 80
SUMMARY_SENTENCE_MIN_WORDS = 8
SUMMARY_RELEVANCE_WEIGHT = 0.85
# With a generator, each topic's two-sentence summary is written from an excerpt of the topic this
# many times longer than its extractive share (about 200 words in all, as when the extractive
# summary took 100), which keeps a topic's prompt well inside a 2048-token context and its reading
# time short on a CPU.
SUMMARY_PROMPT = "summary_topic.txt"
SUMMARY_EXCERPT_RATIO = 2.5
SUMMARY_TOKENS = 96
# One retry, sampled more freely, as for follow-up questions.
SUMMARY_TEMPERATURES = (0.2, 0.7)


@dataclass(frozen=True)
class SummaryCandidates:
    """The sentences the summary may quote (salience.summary_pool), how salient each is, their
    embeddings (to keep a point from being picked twice in other words) and the rows of each topic."""

    sentences: list[Sentence]
    salience: np.ndarray
    embeddings: np.ndarray
    topics: list[np.ndarray]

    @classmethod
    def of(cls, insights: SessionInsights, embedder: Embedder) -> SummaryCandidates:
        pool = summary_pool(insights)
        embeddings = embedder.encode([sentence.text for sentence in pool])
        features = salience_features(pool, insights, embeddings)
        return cls(pool, load_salience_head().scores(features), embeddings, topic_rows(pool, insights))

    @cached_property
    def _salience_by_sentence(self) -> dict[int, float]:
        """Salience by transcript sentence index: one pass over the pool, not one per insight."""
        return {sentence.index: float(score) for sentence, score in zip(self.sentences, self.salience, strict=True)}

    def salience_of(self, sentence_indices: Sequence[int]) -> float:
        """The salience of the best of these sentences (-inf when none is a candidate)."""
        scores = self._salience_by_sentence
        return max((scores[index] for index in sentence_indices if index in scores), default=-np.inf)

    def worth_asking_again(self, questions: Sequence[Insight]) -> list[Insight]:
        """The questions at least as salient as the session's typical candidate sentence: a follow-up
        built on "You guys ready to celebrate?" or "does that include champagne?" is hollow."""
        typical = float(np.median(self.salience)) if len(self.salience) else np.inf
        return [question for question in questions if self.salience_of(question.sentence_indices) >= typical]

    def worth(self, insight: Insight) -> tuple[float, float]:
        """How much an insight matters to the session, to sort by: the summary head's salience of its
        best sentence, the section head's confidence breaking ties. The confidence alone says how
        surely a sentence is context or a question, not how much it matters: ranked by it, the
        background's quotes matched human summaries less (models/summary_head/README.md)."""
        return self.salience_of(insight.sentence_indices), insight.confidence


def topic_extracts(
    candidates: SummaryCandidates,
    words: int = SUMMARY_WORDS,
    scale: float = 1,
    min_words: int = SUMMARY_SENTENCE_MIN_WORDS,
    relevance_weight: float = SUMMARY_RELEVANCE_WEIGHT,
) -> list[list[Sentence]]:
    """The most salient sentences of each topic, topic by topic in the order they were said.

    Each topic gets a share of `words` in proportion to its length, so every topic is covered, and
    maximal marginal relevance keeps a point from being picked twice in other words. A topic too
    short for one sentence of its own is left to the themes. `scale` takes that many times more
    words from each of the same topics (the generator's excerpts). The other arguments are the
    tuned constants; eval/train_summary.py varies them.
    """
    lengths = np.array([len(sentence.text.split()) for sentence in candidates.sentences])
    eligible = [rows[lengths[rows] >= min_words] for rows in candidates.topics]
    total = sum(len(rows) for rows in eligible)
    if not total:
        return []
    span = np.ptp(candidates.salience) or 1.0
    relevance = (candidates.salience - candidates.salience.min()) / span
    extracts: list[list[int]] = []
    chosen: list[int] = []
    for rows in eligible:
        budget = round(words * len(rows) / total)
        if not len(rows) or budget < min_words:
            continue
        # Topics may share a sentence at their boundary: it is quoted once.
        remaining = [row for row in rows if row not in chosen]
        picked: list[int] = []
        used = 0
        while remaining and used < budget * scale:
            overlap = (
                (candidates.embeddings[remaining] @ candidates.embeddings[chosen].T).max(axis=1)
                if chosen
                else np.zeros(len(remaining))
            )
            scores = relevance_weight * relevance[remaining] - (1 - relevance_weight) * overlap
            best = remaining.pop(int(np.argmax(scores)))
            picked.append(best)
            chosen.append(best)
            used += lengths[best]
        extracts.append(sorted(picked))
    if not extracts and len(candidates.topics) > 1:
        # Every topic is short: the session's most salient sentences stand for all of them.
        whole = replace(candidates, topics=[np.concatenate(candidates.topics)])
        return topic_extracts(whole, words, scale, min_words, relevance_weight)
    return [[candidates.sentences[row] for row in rows] for rows in extracts]


def background_insights(
    insights: SessionInsights, candidates: SummaryCandidates, summarised: Sequence[Sentence]
) -> list[Insight]:
    """The context insights a summary of the session would most likely say too (SummaryCandidates.worth),
    in the order they were said, leaving out those the summary already quotes."""
    quoted = {sentence.index for sentence in summarised}
    unquoted = [i for i in insights.in_section(Section.CONTEXT) if not quoted.intersection(i.sentence_indices)]
    ranked = sorted(unquoted, key=candidates.worth, reverse=True)
    return sorted(ranked[:BACKGROUND_INSIGHTS], key=lambda insight: insight.start)


def background_picks(
    insights: SessionInsights,
    candidates: SummaryCandidates,
    words: int = SUMMARY_WORDS,
    min_words: int = SUMMARY_SENTENCE_MIN_WORDS,
    relevance_weight: float = SUMMARY_RELEVANCE_WEIGHT,
) -> tuple[list[list[Sentence]], list[Insight]]:
    """The summary's sentences topic by topic, then the background's evidence quotes among the
    sentences they leave: build_memo's picks, which eval/train_summary.py tunes the constants of."""
    extracts = topic_extracts(candidates, words, 1, min_words, relevance_weight)
    quotes = background_insights(insights, candidates, [s for extract in extracts for s in extract])
    return extracts, quotes


def fluent_texts(sentences: Sequence[Sentence], nlp: Language) -> list[str]:
    """Each sentence without the "um"s and repeats that make spoken sentences hard to read."""
    return [fluent_text(doc) for doc in nlp.pipe(sentence.text for sentence in sentences)]


def attributed(sentences: Sequence[Sentence], texts: Sequence[str]) -> str:
    """The sentences, written as `texts` (their fluent_texts), as one paragraph, each with who said
    it and when. eval/train_summary.py passes texts it computed once for many selections."""
    return " ".join(
        f"{sentence.speaker + ': ' if sentence.speaker else ''}{text} [{format_timestamp(sentence.start)}]"
        for sentence, text in zip(sentences, texts, strict=True)
    )


def extractive_summary(sentences: Sequence[Sentence], nlp: Language) -> str:
    """The sentences as one paragraph, each with who said it and when."""
    return attributed(sentences, fluent_texts(sentences, nlp))


def linked_account(account: str, excerpt: Sequence[Sentence], texts: Sequence[str], nlp: Language) -> str:
    """`account` (a generated summary of `excerpt`, whose fluent texts are `texts`) with each of its
    sentences followed by the time of the excerpt sentence sharing most of its content words, the
    speaker's name counted as said (the earliest on a tie).

    A reader checks a summary claim by listening to where it comes from: one link to the start of
    the excerpt would leave them searching two minutes of talk for "decided to drop the solar cell"."""
    support = [
        checks.content_lemmas(nlp, f"{sentence.speaker or ''} {text}")
        for sentence, text in zip(excerpt, texts, strict=True)
    ]
    linked = []
    for claim in nlp(account).sents:
        words = checks.content_lemmas(nlp, claim.text)
        best = max(range(len(excerpt)), key=lambda index: (len(words & support[index]), -index))
        linked.append(f"{claim.text.strip()} [{format_timestamp(excerpt[best].start)}]")
    return " ".join(linked)


def _topic_summary(
    extract: Sequence[Sentence], excerpt: Sequence[Sentence], writer: CheckedWriter | None, nlp: Language
) -> str:
    """One topic of the summary: the generator's third-person account of the topic's `excerpt` when
    it passes the checks (memo/checks.py, summary_problem), else the topic's `extract` verbatim.
    Each sentence of it is linked to a time, like every other line of the memo.

    The excerpt is shown as reported speech ("- Grad B said: “…”"): shown "Grad B: …" lines, a 0.5B
    model continues the transcript instead of summarising it."""
    if writer is not None and excerpt:
        texts = fluent_texts(excerpt, nlp)
        evidence = "\n".join(
            f"- {sentence.speaker or 'Someone'} said: “{text}”" for sentence, text in zip(excerpt, texts, strict=True)
        )
        instructions = prompt_instructions(SUMMARY_PROMPT)
        written = writer.ask(
            prompt_text(SUMMARY_PROMPT).format(excerpts=evidence),
            max_tokens=SUMMARY_TOKENS,
            temperatures=SUMMARY_TEMPERATURES,
            problem_of=lambda reply: checks.summary_problem(
                reply, evidence=evidence, instructions=instructions, nlp=nlp
            ),
        )
        if written:
            return linked_account(written, excerpt, texts, nlp)
    return extractive_summary(extract, nlp)


def session_summary(
    candidates: SummaryCandidates,
    extracts: list[list[Sentence]],
    writer: CheckedWriter | None,
    nlp: Language,
    progress: ProgressCallback = ignore_progress,
) -> str:
    """What was said, topic by topic (map-reduce: each topic is summarised on its own, so a long
    session is covered in full and no prompt outgrows the generator's context; the topic summaries
    are joined in the order they were said). `extracts` are topic_extracts of `candidates`; the
    generator reads SUMMARY_EXCERPT_RATIO times their words, picked the same way.

    `writer` is the memo's one writer (build_memo passes the one of its follow-up questions), so a
    generator that fails is not asked again for the summary, and the memo's provenance counts the
    summaries it accepted."""
    excerpts = topic_extracts(candidates, scale=SUMMARY_EXCERPT_RATIO) if writer is not None else extracts
    paragraphs = []
    for number, (extract, excerpt) in enumerate(zip(extracts, excerpts, strict=True)):
        progress(number / len(extracts), f"Summarising part {number + 1} of {len(extracts)} of the session")
        paragraphs.append(_topic_summary(extract, excerpt, writer, nlp))
    return " ".join(paragraphs)
