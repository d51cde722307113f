"""Drafts the debrief memo from a session's insights, in the shape facilitators write by hand:
background, key themes (context, ideas, strategies, reactions, resources, questions, follow-ups),
then resources, commitments, open questions and questions to open the next session.

Everything in the draft is either an insight (a statement with its verbatim quote, speaker and
time) or a question built from them, so every line of the memo can be traced to the recording.
The background's summary is written topic by topic: with a generator, a checked third-person
account of each topic linked to the time it starts; without one (or when a reply fails the
checks), the topic's most salient sentences verbatim, as scored by a head trained on human
meeting summaries (memo/salience.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property

import numpy as np
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
from insightcap.memo import checks
from insightcap.memo.followups import (
    FollowupWriter,
    ThemeEvidence,
    follow_up_questions,
    prompt_instructions,
)
from insightcap.memo.render import format_timestamp
from insightcap.memo.salience import (
    load_salience_head,
    salience_features,
    summary_pool,
    topic_rows,
)
from insightcap.memo.schema import MemoDraft, MemoTheme
from insightcap.memo.templated import next_session_questions
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.resources import prompt_text
from insightcap.themes.embed import Embedder
from insightcap.themes.schema import ThemeRecurrence
from insightcap.transcript.schema import Transcript
from insightcap.wording import in_words

DETERMINISTIC = "no generator (deterministic)"
# Share of the memo's progress bar for the follow-up questions; the summary takes the rest.
FOLLOWUP_PROGRESS = 0.6
# Evidence quotes under the background (background_insights): two scored better than one or three
# against human summaries (models/summary_head/README.md).
BACKGROUND_INSIGHTS = 2
# The overview (the background's first sentence) counts the themes and names this many, the ones
# most was said in (None: every theme); "Key themes" lists them all right below. Titles are often
# keyword lists: naming two scored as well as naming all against human summaries, with better
# ROUGE-1/L, and reads shorter (cross-validation, models/summary_head/README.md).
OVERVIEW_TITLES: int | None = 2
# A question counts as answered when someone else contributes an insight (not another question) in
# the same topic within this many seconds of it; otherwise it is listed as open.
ANSWER_WINDOW_SECONDS = 90.0
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
    topic: Topic, insights: list[Insight], background: Sequence[Insight], program_themes: list[ThemeRecurrence]
) -> MemoTheme:
    """The theme of `topic`, leaving out what the memo's background already quotes."""
    shown = {id(insight) for insight in background}
    quoted = {(insight.speaker, insight.start) for insight in background}

    def of(section: Section) -> list[Insight]:
        return _by_time([i for i in insights if i.section == section])

    return MemoTheme(
        topic_index=topic.index,
        title=topic.title,
        opening=[line for line in topic.opening_lines() if (line.speaker, line.start) not in quoted],
        context_insights=[i for i in of(Section.CONTEXT) if id(i) not in shown],
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


def theme_topics(insights: SessionInsights, transcript: Transcript) -> list[Topic]:
    """The topics the memo presents as themes, the one most was said in first."""
    return sorted(
        (topic for topic in insights.topics if _has_theme_content(topic, insights)),
        key=lambda topic: -_words_said(topic, transcript),
    )


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
    return _by_time(ranked[:BACKGROUND_INSIGHTS])


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


def _topic_summary(
    extract: Sequence[Sentence], excerpt: Sequence[Sentence], writer: FollowupWriter | None, nlp: Language
) -> str:
    """One topic of the summary: the generator's third-person account of the topic's `excerpt` when
    it passes the checks (memo/checks.py, summary_problem), else the topic's `extract` verbatim.
    The account is linked to the time the excerpt starts, like every other line of the memo.

    The excerpt is shown as reported speech ("- Grad B said: “…”"): shown "Grad B: …" lines, a 0.5B
    model continues the transcript instead of summarising it."""
    if writer is not None and excerpt:
        evidence = "\n".join(
            f"- {sentence.speaker or 'Someone'} said: “{text}”"
            for sentence, text in zip(excerpt, fluent_texts(excerpt, nlp), strict=True)
        )
        instructions = prompt_instructions(SUMMARY_PROMPT)
        # FollowupWriter.ask holds the retry-with-feedback loop and the generator's failure state
        # for the whole memo; the summary shares both with the follow-up questions.
        written = writer.ask(
            prompt_text(SUMMARY_PROMPT).format(excerpts=evidence),
            max_tokens=SUMMARY_TOKENS,
            temperatures=SUMMARY_TEMPERATURES,
            problem_of=lambda reply: checks.summary_problem(
                reply, evidence=evidence, instructions=instructions, nlp=nlp
            ),
        )
        if written:
            return f"{written} [{format_timestamp(excerpt[0].start)}]"
    return extractive_summary(extract, nlp)


def _summary(
    candidates: SummaryCandidates,
    extracts: list[list[Sentence]],
    writer: FollowupWriter | None,
    nlp: Language,
    progress: ProgressCallback = ignore_progress,
) -> str:
    """What was said, topic by topic (map-reduce: each topic is summarised on its own, so a long
    session is covered in full and no prompt outgrows the generator's context; the topic summaries
    are joined in the order they were said). `extracts` are topic_extracts of `candidates`; the
    generator reads SUMMARY_EXCERPT_RATIO times their words, picked the same way."""
    excerpts = topic_extracts(candidates, scale=SUMMARY_EXCERPT_RATIO) if writer is not None else extracts
    paragraphs = []
    for number, (extract, excerpt) in enumerate(zip(extracts, excerpts, strict=True)):
        progress(number / len(extracts), f"Summarising part {number + 1} of {len(extracts)} of the session")
        paragraphs.append(_topic_summary(extract, excerpt, writer, nlp))
    return " ".join(paragraphs)


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


def overview(
    participants: list[str],
    duration: float,
    titles: list[str],
    shown: int | None = OVERVIEW_TITLES,
    *,
    commitments: int = 0,
) -> str:
    """The background's first sentence: who met, for how long, how many themes and the titles of the
    first `shown` of them (`titles` come biggest first; None names them all). The "Key themes" section
    right below lists every theme. With no theme, the memo has no "Key themes" section; a topic that
    held only `commitments` is not a theme (they have their own section), so the sentence names them
    rather than leave the reader wondering where what they agreed went."""
    who = f"{_counted(len(participants), 'participant')} ({', '.join(participants)})" if participants else "The group"
    length = _counted(round(duration / 60), "minute") if duration >= 60 else "less than a minute"
    if not titles:
        agreed = f" and agreed on {_counted(commitments, 'commitment')} (listed below)" if commitments else ""
        return f"{who} met for {length}{agreed}; no themes with clear insights were found."
    met = f"{who} met for {length} and discussed {_counted(len(titles), 'theme')}"
    named = titles if shown is None else titles[:shown]
    if not named:
        return f"{met}."
    listed = in_words(named)
    return f"{met}: {listed}." if len(named) == len(titles) else f"{met}, above all {listed}."


def language_note(transcript: Transcript) -> str:
    """A warning for a recording in another language than English: speech recognition handles many
    languages, but the section, commitment, topic and summary heads and spaCy were all made for
    English, so a French session gets themes such as "Més, offrir" without the reader knowing why."""
    code = (transcript.language or "").lower()
    if not code or code.split("-")[0] == "en":
        return ""
    return (
        f"The speech was recognised as language “{code}”, but insightcap finds insights, themes and "
        "questions with models made for English: check this memo against the recording with care."
    )


def session_duration(transcript: Transcript) -> float:
    """The recording's length, or where its last segment ends when the transcript does not say."""
    return transcript.duration or max((segment.end for segment in transcript.segments), default=0.0)


def background_text(
    transcript: Transcript,
    titles: list[str],
    summary: str,
    shown: int | None = OVERVIEW_TITLES,
    *,
    commitments: int = 0,
) -> str:
    """The memo's background paragraph: the overview of the session (its `titles` biggest first, and
    how many `commitments` when there is no theme), then the `summary`. eval/train_summary.py tunes
    the summary on exactly this text."""
    opening = overview(transcript.speakers, session_duration(transcript), titles, shown, commitments=commitments)
    return " ".join(filter(None, [opening, summary]))


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
    progress(0.0, "Picking the sentences that summarise the session")
    candidates = SummaryCandidates.of(insights, Embedder(settings))
    extracts, background = background_picks(insights, candidates)
    topics = theme_topics(insights, transcript)
    themes = [
        _theme(topic, insights.for_topic(topic.index), background, program_themes.get(topic.index, []))
        for topic in topics
    ]

    open_questions = [
        q for q in _by_time(insights.in_section(Section.QUESTION)) if not _is_answered(q, insights)
    ]
    to_ask_again = candidates.worth_asking_again(open_questions)
    writer = FollowupWriter(generator, settings) if generator else None
    asked: list[str] = []
    for number, (topic, theme) in enumerate(zip(topics, themes, strict=True)):
        progress(
            FOLLOWUP_PROGRESS * number / max(1, len(themes)),
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
            open_questions=to_ask_again,
            other_themes_questions=asked,
            worth=candidates.worth,
        )
        asked.extend(theme.follow_up_questions)

    commitments = _by_time(insights.in_section(Section.ACTION_ITEM))
    nlp = load_nlp(settings)
    summary = _summary(
        candidates,
        extracts,
        writer,
        nlp,
        lambda done, message: progress(FOLLOWUP_PROGRESS + (1 - FOLLOWUP_PROGRESS) * done, message),
    )
    progress(1.0, "Memo drafted")
    return MemoDraft(
        title=title,
        program=program,
        session_date=session_date,
        duration_seconds=session_duration(transcript),
        language_note=language_note(transcript),
        participants=transcript.speakers,
        background=background_text(
            transcript, [theme.title for theme in themes], summary, commitments=len(commitments)
        ),
        background_insights=background,
        themes=themes,
        resources=_by_time(insights.in_section(Section.RESOURCE)),
        commitments=commitments,
        open_questions=open_questions,
        next_session_questions=next_session_questions(themes, commitments, to_ask_again),
        generated_with=_provenance(writer),
    )
