"""A session's commitments, from its sentences: the votes on which sentences hand out or take on
work, read and worded one by one, the most likely first, the same commitment said twice kept once.

The path from sentences to action-item insights reads top to bottom in find_action_items; the
detector (detect.py), the grammar (grammar.py, dates.py) and the wording (wording.py) are each
their own module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from insightcap.insights.actions.detect import (
    commitment_probabilities,
    load_action_head,
)
from insightcap.insights.actions.grammar import (
    extract_action,
    names_work,
    promises_by_date,
)
from insightcap.insights.actions.wording import TaskWriter, action_statement
from insightcap.insights.schema import Insight, Section
from insightcap.insights.selection import distinct, sentence_insight
from insightcap.insights.sentences import ParsedSentence
from insightcap.themes.embed import Embedder

# Two commitments this close (MiniLM cosine of their statements) are the same one said twice.
DUPLICATE_STATEMENT_SIMILARITY = 0.85


@dataclass(frozen=True)
class ActionContext:
    """What reading a session's commitments needs besides the sentences themselves."""

    session_date: date | None
    embedder: Embedder
    writer: TaskWriter | None = None


def _said_before(sentences: Sequence[ParsedSentence], index: int) -> ParsedSentence | None:
    """The sentence before, when the same speaker said it (it often names who is addressed)."""
    if index == 0:
        return None
    previous = sentences[index - 1]
    return previous if previous.sentence.speaker == sentences[index].sentence.speaker else None


def find_action_items(
    sentences: Sequence[ParsedSentence],
    embeddings: np.ndarray,
    topic_of: dict[int, int],
    context: ActionContext,
    offers: Mapping[int, float] | None = None,
) -> list[Insight]:
    """The session's commitments as action-item insights, the most likely first, near-duplicates
    dropped. `topic_of` maps a sentence index to its topic.

    Three votes: the detector (detect.py), trained on the acts AMI's annotators linked to action
    items (mostly work being handed out in design meetings); `offers`, the sentence index →
    confidence of sentences the section head read as a speaker taking work on ("I'll send you the
    template"), which the first rarely sees in AMI and would miss in a peer-learning circle; and
    a speaker's dated promise (promises_by_date), whatever either model says. A sentence that
    names no work (names_work) is never listed.
    """
    detected = commitment_probabilities(sentences, embeddings)
    threshold = float(load_action_head().meta["threshold"])
    probability = detected.copy()
    taken_on = dict(offers or {})
    for index, parsed in enumerate(sentences):
        if promises_by_date(parsed.span):
            taken_on[index] = max(taken_on.get(index, 0.0), threshold)
    for index, confidence in taken_on.items():
        probability[index] = max(probability[index], confidence)
    participants = {parsed.sentence.speaker for parsed in sentences if parsed.sentence.speaker}
    insights: list[Insight] = []
    for index in np.argsort(-probability, kind="stable"):
        if detected[index] < threshold and int(index) not in taken_on:
            continue
        parsed = sentences[int(index)]
        if not names_work(parsed.span):
            continue
        sentence = parsed.sentence
        before = _said_before(sentences, int(index))
        action = extract_action(
            parsed.span, sentence.speaker, context.session_date, participants, before.span if before else None
        )
        written = (
            context.writer.task(sentence.text, before.sentence.text if before else "", action)
            if context.writer
            else None
        )
        if written:
            action = action.model_copy(update={"task": written})
        insights.append(
            sentence_insight(
                sentence,
                Section.ACTION_ITEM,
                action_statement(action),
                topic_index=topic_of.get(sentence.index, 0),
                confidence=float(probability[index]),
                action=action,
            )
        )
    return _without_duplicates(insights, context.embedder)


def _without_duplicates(insights: list[Insight], embedder: Embedder) -> list[Insight]:
    """Keeps the first (most likely) of statements that say the same thing."""
    if len(insights) < 2:
        return insights
    vectors = embedder.encode([insight.statement for insight in insights])
    return [insights[index] for index in distinct(vectors, range(len(insights)), DUPLICATE_STATEMENT_SIMILARITY)]
