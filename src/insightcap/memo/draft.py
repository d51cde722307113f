"""Drafts the debrief memo from a session's insights, in the shape facilitators write by hand:
background, key themes (context, ideas, strategies, reactions, resources, questions, follow-ups),
then resources, commitments, open questions and questions to open the next session.

Everything in the draft is either an insight (a statement with its verbatim quote, speaker and
time) or a question built from them, so every line of the memo can be traced to the recording.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from spacy.language import Language

from insightcap.config import Settings, get_settings
from insightcap.generator.base import TextGenerator
from insightcap.insights.nlp import fluent_text, load_nlp
from insightcap.insights.schema import (
    Insight,
    Section,
    Sentence,
    SessionInsights,
    Topic,
)
from insightcap.memo.followups import FollowupWriter, ThemeEvidence, follow_up_questions
from insightcap.memo.render import format_timestamp
from insightcap.memo.schema import MemoDraft, MemoTheme
from insightcap.memo.templated import next_session_questions
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.themes.schema import ThemeRecurrence
from insightcap.transcript.schema import Transcript

DETERMINISTIC = "no generator (deterministic)"
BACKGROUND_INSIGHTS = 3
# A question counts as answered when someone else contributes an insight (not another question) in
# the same topic within this many seconds of it; otherwise it is listed as open.
ANSWER_WINDOW_SECONDS = 90.0
# The background's summary: about this many words of what was said, taken from every topic in
# proportion to how long it ran, from sentences long enough to carry a point on their own. Tuned
# against QMSum's human meeting summaries (eval/summary.py), which run to about 110 words.
SUMMARY_WORDS = 120
SUMMARY_SENTENCE_MIN_WORDS = 16
# Maximal marginal relevance: how much a sentence's centrality counts against its overlap with
# sentences already picked (1.0 would ignore repetition).
SUMMARY_RELEVANCE_WEIGHT = 0.9


def _words_said(topic: Topic, transcript: Transcript) -> int:
    """How much was said in the topic: words of the segments whose middle falls inside it."""
    return sum(
        len(segment.text.split())
        for segment in transcript.segments
        if topic.start <= (segment.start + segment.end) / 2 <= topic.end
    )


def _by_time(insights: Sequence[Insight]) -> list[Insight]:
    return sorted(insights, key=lambda insight: insight.start)


def _theme(
    topic: Topic, insights: list[Insight], background: set[int], program_themes: list[ThemeRecurrence]
) -> MemoTheme:
    def of(section: Section) -> list[Insight]:
        return _by_time([i for i in insights if i.section == section])

    return MemoTheme(
        topic_index=topic.index,
        title=topic.title,
        context=topic.summary,
        context_insights=[i for i in of(Section.CONTEXT) if id(i) not in background],
        ideas=of(Section.IDEA),
        strategies=of(Section.STRATEGY),
        reactions=of(Section.REACTION),
        resources=of(Section.RESOURCE),
        questions_raised=of(Section.QUESTION),
        start=topic.start,
        end=topic.end,
        program_themes=program_themes,
    )


def _has_theme_content(topic: Topic, insights: SessionInsights) -> bool:
    """A topic is a theme when it holds more than commitments, which the memo lists on their own."""
    return any(insight.section != Section.ACTION_ITEM for insight in insights.for_topic(topic.index))


def _background_insights(insights: SessionInsights) -> list[Insight]:
    """The most confident context insights, in the order they were said."""
    ranked = sorted(insights.in_section(Section.CONTEXT), key=lambda insight: -insight.confidence)
    return _by_time(ranked[:BACKGROUND_INSIGHTS])


def _summary_sentences(insights: SessionInsights, words: int = SUMMARY_WORDS) -> list[Sentence]:
    """The most central sentences of each topic, in the order they were said.

    Centrality is a sentence's TF-IDF cosine to its topic's centroid (what the topic keeps coming
    back to), so every topic is covered; each topic gets a share of `words` in proportion to its
    length, and maximal marginal relevance keeps a point from being picked twice in other words.
    """
    candidates = [s for s in insights.sentences if len(s.text.split()) >= SUMMARY_SENTENCE_MIN_WORDS]
    if not candidates:
        return []
    vectors = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(
        [sentence.text for sentence in candidates]
    )
    position = {sentence.index: row for row, sentence in enumerate(candidates)}
    topics = [
        [position[index] for index in topic.sentence_indices if index in position]
        for topic in insights.topics
    ] or [list(range(len(candidates)))]
    total = sum(len(members) for members in topics)
    chosen: list[int] = []
    for members in sorted((m for m in topics if m), key=len, reverse=True):
        budget = round(words * len(members) / total)
        if chosen and budget < SUMMARY_SENTENCE_MIN_WORDS:
            break  # a topic too short for one sentence of its own is left to the themes
        centroid = np.asarray(vectors[members].mean(axis=0))
        norm = np.linalg.norm(centroid)
        centrality = (vectors[members] @ centroid.T).ravel() / (norm or 1.0)
        used = 0
        remaining = list(range(len(members)))
        while remaining and used < budget:
            overlap = (
                (vectors[[members[r] for r in remaining]] @ vectors[chosen].T).toarray().max(axis=1)
                if chosen
                else np.zeros(len(remaining))
            )
            scores = (
                SUMMARY_RELEVANCE_WEIGHT * centrality[remaining] - (1 - SUMMARY_RELEVANCE_WEIGHT) * overlap
            )
            best = remaining.pop(int(np.argmax(scores)))
            chosen.append(members[best])
            used += len(candidates[members[best]].text.split())
    return sorted((candidates[row] for row in chosen), key=lambda sentence: sentence.start)


def _summary(sentences: Sequence[Sentence], nlp: Language) -> str:
    """The summary sentences as one paragraph, each with who said it and when, without the
    "um"s and repeats that make spoken sentences hard to read."""
    return " ".join(
        f"{sentence.speaker + ': ' if sentence.speaker else ''}{fluent_text(doc)} [{format_timestamp(sentence.start)}]"
        for sentence, doc in zip(sentences, nlp.pipe(sentence.text for sentence in sentences), strict=True)
    )


def _is_answered(question: Insight, insights: SessionInsights) -> bool:
    return any(
        other.section != Section.QUESTION
        and other.topic_index == question.topic_index
        and (other.speaker != question.speaker or question.speaker is None)
        and question.end <= other.start <= question.end + ANSWER_WINDOW_SECONDS
        for other in insights.insights
    )


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _overview(participants: list[str], duration: float, themes: list[MemoTheme]) -> str:
    who = f"{_counted(len(participants), 'participant')} ({', '.join(participants)})" if participants else "The group"
    length = _counted(max(1, round(duration / 60)), "minute")
    if not themes:
        return f"{who} met for {length}; no themes with clear insights were found."
    titles = [theme.title for theme in themes]
    listed = titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"
    return f"{who} met for {length} and discussed {_counted(len(themes), 'theme')}: {listed}."


def _provenance(writer: FollowupWriter | None) -> str:
    if writer is None:
        return DETERMINISTIC
    name = writer.generator.name
    if writer.failure:
        return f"{DETERMINISTIC}: the generator {name} failed ({writer.failure})"
    if not writer.accepted:
        return f"{DETERMINISTIC}: no text from {name} passed the checks"
    return name


def build_memo(
    *,
    title: str,
    transcript: Transcript,
    insights: SessionInsights,
    generator: TextGenerator | None,
    program: str | None = None,
    session_date: date | None = None,
    program_themes: Mapping[int, list[ThemeRecurrence]] | None = None,
    progress: ProgressCallback = ignore_progress,
    settings: Settings | None = None,
) -> MemoDraft:
    """The memo draft. `settings` names the NLP model (for the summary and to check generated text)
    and the embedding model (to check generated text). `program_themes` links each topic to the
    program's recurring themes (themes/program.py, session_theme_links), so the memo can say a theme
    came up before and its follow-up questions can pick up what was said then."""
    program_themes = program_themes or {}
    settings = settings or get_settings()
    background = _background_insights(insights)
    background_ids = {id(insight) for insight in background}
    topics = sorted(
        (topic for topic in insights.topics if _has_theme_content(topic, insights)),
        key=lambda topic: -_words_said(topic, transcript),
    )
    themes = [
        _theme(topic, insights.for_topic(topic.index), background_ids, program_themes.get(topic.index, []))
        for topic in topics
    ]

    open_questions = [
        q for q in _by_time(insights.in_section(Section.QUESTION)) if not _is_answered(q, insights)
    ]
    writer = FollowupWriter(generator, settings) if generator else None
    asked: list[str] = []
    for number, (topic, theme) in enumerate(zip(topics, themes, strict=True)):
        progress(
            number / max(1, len(themes)),
            f"Writing follow-up questions for “{theme.title}”",
        )
        evidence = ThemeEvidence.of(theme, topic.keywords)
        if writer:
            theme.title = writer.title(evidence) or theme.title
            evidence = ThemeEvidence.of(theme, topic.keywords)
        theme.follow_up_questions = follow_up_questions(
            theme,
            evidence,
            writer,
            open_questions=open_questions,
            other_themes_questions=asked,
        )
        asked.extend(theme.follow_up_questions)

    commitments = _by_time(insights.in_section(Section.ACTION_ITEM))
    nlp = load_nlp(settings)
    duration = transcript.duration or max((segment.end for segment in transcript.segments), default=0.0)
    participants = transcript.speakers
    progress(1.0, "Memo drafted")
    return MemoDraft(
        title=title,
        program=program,
        session_date=session_date,
        duration_seconds=duration,
        participants=participants,
        background=" ".join(
            filter(
                None,
                [
                    _overview(participants, duration, themes),
                    _summary(_summary_sentences(insights), nlp),
                ],
            )
        ),
        background_insights=background,
        themes=themes,
        resources=_by_time(insights.in_section(Section.RESOURCE)),
        commitments=commitments,
        open_questions=open_questions,
        next_session_questions=next_session_questions(themes, commitments, open_questions),
        generated_with=_provenance(writer),
    )
