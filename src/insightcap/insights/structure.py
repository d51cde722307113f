"""The structure stage: a transcript in, topics and evidence-backed insights out.

Read top to bottom: split into sentences → embed them → segment topics → classify sections →
pick the insights worth a facilitator's attention, each with the exact words that were said.
Everything runs in batches over the whole session, so a two-hour recording is processed in full.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
from spacy.language import Language

from insightcap.config import Settings
from insightcap.generator.base import TextGenerator
from insightcap.insights.actions import ActionContext, TaskWriter, find_action_items
from insightcap.insights.classify import SectionCall, classify_sentences
from insightcap.insights.nlp import content_words, fluent_text, load_nlp
from insightcap.insights.schema import (
    ActionItem,
    Insight,
    Section,
    SessionInsights,
    Topic,
)
from insightcap.insights.selection import distinct, sentence_insight
from insightcap.insights.sentences import ParsedSentence, split_sentences
from insightcap.insights.topics import segment_topics
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.themes.embed import Embedder
from insightcap.transcript.schema import Transcript

# The head's probability for its section must reach this; strategies and resources pass their own
# prototype thresholds instead (prompts/section_prototypes.toml).
MIN_CONFIDENCE = 0.5
# Content words an insight needs to stand on its own. Commitments, questions and pointers to a
# resource are short by nature ("I'll send the template by Friday"), so they need fewer.
MIN_CONTENT_WORDS = 5
MIN_CONTENT_WORDS_SHORT_SECTIONS = 3
_SHORT_SECTIONS = frozenset({Section.ACTION_ITEM, Section.QUESTION, Section.RESOURCE})
# Two sentences this similar (MiniLM cosine of what was said) make the same insight; the more
# confident one is kept. Commitments compare their statements instead (actions/commitments.py).
DUPLICATE_SENTENCE_SIMILARITY = 0.9
# At most this many insights of one section per topic, the most confident first, so a long topic
# full of context does not bury its few ideas.
MAX_PER_TOPIC_SECTION = 6
STATEMENT_MAX_WORDS = 25
EMBEDDING_BATCH = 512
_SECTION_ORDER = {section: position for position, section in enumerate(Section)}


def _embed(
    embedder: Embedder,
    texts: list[str],
    progress: ProgressCallback,
    start: float,
    end: float,
) -> np.ndarray:
    """Embeddings in batches, reporting progress between `start` and `end` of the stage."""
    chunks = []
    for offset in range(0, len(texts), EMBEDDING_BATCH):
        chunks.append(embedder.encode(texts[offset : offset + EMBEDDING_BATCH]))
        done = min(offset + EMBEDDING_BATCH, len(texts)) / max(len(texts), 1)
        progress(
            start + (end - start) * done,
            f"Embedded {min(offset + EMBEDDING_BATCH, len(texts))} of {len(texts)} sentences",
        )
    return np.vstack(chunks) if chunks else embedder.encode([])


def concise_statement(parsed: ParsedSentence) -> str:
    """The quote without fillers, cut to one clause of about STATEMENT_MAX_WORDS words."""
    text = fluent_text(parsed.span)
    words = text.split()
    if len(words) > STATEMENT_MAX_WORDS:
        head = " ".join(words[:STATEMENT_MAX_WORDS])
        clause_end = max(head.rfind(","), head.rfind(";"))
        text = head[:clause_end] if clause_end > len(head) // 3 else head
        text = text.rstrip(" ,;") + "…"
    text = text[:1].upper() + text[1:]
    return text if re.search(r"[.?!…]$", text) else text + "."


def _is_candidate(call: SectionCall, parsed: ParsedSentence) -> bool:
    if call.section is None:
        return False
    if (
        call.section not in {Section.STRATEGY, Section.RESOURCE}
        and call.confidence < MIN_CONFIDENCE
    ):
        return False
    needed = (
        MIN_CONTENT_WORDS_SHORT_SECTIONS
        if call.section in _SHORT_SECTIONS
        else MIN_CONTENT_WORDS
    )
    return len(content_words(parsed.span)) >= needed


def topic_of_sentences(topics: list[Topic]) -> dict[int, int]:
    """Sentence index → the index of the topic it belongs to."""
    return {index: topic.index for topic in topics for index in topic.sentence_indices}


def select_insights(
    sentences: list[ParsedSentence],
    embeddings: np.ndarray,
    calls: list[SectionCall],
    topic_of: dict[int, int],
) -> list[Insight]:
    """The section head's insights. Action items are found separately (insights/actions/), by a
    detector trained on the sentences AMI's annotators linked to action items."""
    candidates = sorted(
        (
            index
            for index, (call, parsed) in enumerate(zip(calls, sentences))
            if call.section != Section.ACTION_ITEM and _is_candidate(call, parsed)
        ),
        key=lambda index: -calls[index].confidence,
    )
    kept = distinct(
        embeddings,
        candidates,
        DUPLICATE_SENTENCE_SIMILARITY,
        group_of=lambda index: (topic_of[index], calls[index].section),
        per_group=MAX_PER_TOPIC_SECTION,
    )
    return [
        sentence_insight(
            sentences[index].sentence,
            calls[index].section,
            concise_statement(sentences[index]),
            topic_index=topic_of[index],
            confidence=calls[index].confidence,
            resource_name=calls[index].resource_name,
        )
        for index in kept
    ]


def action_items(
    sentences: list[ParsedSentence],
    embeddings: np.ndarray,
    calls: list[SectionCall],
    topic_of: dict[int, int],
    context: ActionContext,
) -> list[Insight]:
    """Commitments from both detectors: the action-item detector, and the sentences the section
    head read as a speaker offering to do something."""
    offers = {index: call.confidence for index, (call, parsed) in enumerate(zip(calls, sentences))
              if call.section == Section.ACTION_ITEM and _is_candidate(call, parsed)}
    return find_action_items(sentences, embeddings, topic_of, context, offers)


def _in_memo_order(insights: list[Insight]) -> list[Insight]:
    return sorted(insights, key=lambda i: (i.topic_index, _SECTION_ORDER[i.section], -i.confidence))


class _ReportingTaskWriter(TaskWriter):
    """A TaskWriter that reports each commitment it words: with a local generator that is most of
    the stage's time on a long session (minutes), and without a report the job would look stuck.
    How many commitments there are is known only once they are all read, so the bar stays put
    and the message counts them."""

    def __init__(self, generator: TextGenerator, nlp: Language, progress: ProgressCallback) -> None:
        super().__init__(generator, nlp)
        self._progress = progress
        self._worded = 0

    def task(self, quote: str, said_before: str, action: ActionItem) -> str | None:
        self._worded += 1
        self._progress(0.9, f"Wording commitment {self._worded}")
        return super().task(quote, said_before, action)


def extract_insights(
    transcript: Transcript,
    settings: Settings,
    session_date: date | None = None,
    progress: ProgressCallback = ignore_progress,
    generator: TextGenerator | None = None,
) -> SessionInsights:
    """`generator`, when given, rewords each action item's task (validated against what was said)."""
    progress(0.0, "Splitting the transcript into sentences")
    nlp = load_nlp(settings)
    sentences = split_sentences(transcript, nlp)
    embedder = Embedder(settings)
    progress(0.2, f"Embedding {len(sentences)} sentences")
    embeddings = _embed(
        embedder, [parsed.sentence.text for parsed in sentences], progress, 0.2, 0.7
    )
    progress(0.7, "Finding topics")
    topics = segment_topics(sentences, embeddings)
    progress(0.8, "Classifying sentences into sections")
    calls = classify_sentences(sentences, embeddings, embedder)
    progress(0.9, "Selecting insights")
    topic_of = topic_of_sentences(topics)
    writer = _ReportingTaskWriter(generator, nlp, progress) if generator else None
    actions = action_items(sentences, embeddings, calls, topic_of, ActionContext(session_date, embedder, writer))
    others = select_insights(sentences, embeddings, calls, topic_of)
    # A sentence is one insight: one the section head made a resource, idea or question stays that.
    taken = {index for insight in others for index in insight.sentence_indices}
    actions = [action for action in actions if not taken.intersection(action.sentence_indices)]
    insights = _in_memo_order(others + actions)
    progress(1.0, f"Found {len(topics)} topics and {len(insights)} insights")
    return SessionInsights(
        topics=topics,
        insights=insights,
        sentences=[parsed.sentence for parsed in sentences],
    )
