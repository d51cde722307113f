"""Splits a session into topics: contiguous stretches of sentences about one subject.

Boundaries come from TextTiling (Hearst, 1997) over sentence embeddings: at every gap between
sentences, compare the mean embedding of the sentences before with those after; a gap whose
similarity dips well below the peaks around it (a high "depth score") is where the conversation
turned. Only the deepest valleys become boundaries: measured against QMSum's annotated meeting
topics, people stay on a subject much longer than local similarity dips suggest, and a memo cut
into many short topics scatters one discussion over several themes. On the 35 QMSum validation
meetings this gives Pk 0.375 (one topic per 3–8 minutes gave 0.52), which is only level with
putting no boundary at all (0.385): embedding dips find where talk turns, not reliably where an
annotator says the subject changed (eval/topics.py).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
from spacy.tokens import Span

from insightcap.insights.schema import Topic
from insightcap.insights.sentences import ParsedSentence

MAX_TOPICS = 12
# Tuned on 16 of QMSum's training meetings (eval/topics.py scores the validation ones): people
# stay on a subject far longer than a sentence-level similarity dip suggests, so a topic is
# about this many sentences (about half an hour of talk), and never shorter than
# MIN_TOPIC_FRACTION of the session or MIN_TOPIC_SENTENCES.
SENTENCES_PER_TOPIC = 320
MIN_TOPIC_FRACTION = 0.08
MIN_TOPIC_SENTENCES = 8
MIN_TOPIC_SECONDS = 90.0
# A session at least this long is split in two at its deepest turn even when it is short of
# SENTENCES_PER_TOPIC: a facilitator reading a quarter-hour discussion still wants its two halves.
SPLIT_SESSION_MINUTES = 12.0
# Sentences compared on either side of a gap, and the width of the moving average over gaps:
# wide enough that one off-topic remark does not look like a change of subject.
WINDOW_SENTENCES = 20
SMOOTHING_GAPS = 11
KEYWORDS_PER_TOPIC = 6
TITLE_KEYPHRASES = 3
# A multi-word noun chunk ("remote control") names a subject better than its words one by one.
PHRASE_PREFERENCE = 1.5


def _gap_similarities(embeddings: np.ndarray, window: int) -> np.ndarray:
    """Cosine similarity across each gap i (between sentence i-1 and i), for i = 1..n-1."""
    cumulative = np.vstack(
        [np.zeros((1, embeddings.shape[1])), np.cumsum(embeddings, axis=0)]
    )
    count = len(embeddings)
    similarities = np.empty(count - 1)
    for gap in range(1, count):
        left = cumulative[gap] - cumulative[max(0, gap - window)]
        right = cumulative[min(count, gap + window)] - cumulative[gap]
        denominator = np.linalg.norm(left) * np.linalg.norm(right)
        similarities[gap - 1] = (
            float(left @ right / denominator) if denominator else 1.0
        )
    return similarities


def _climb(values: np.ndarray, position: int, step: int) -> float:
    """The top of the hill reached from `position` walking in direction `step` while values rise."""
    peak = values[position]
    position += step
    while 0 <= position < len(values) and values[position] >= peak:
        peak = values[position]
        position += step
    return float(peak)


def _depth_scores(similarities: np.ndarray) -> np.ndarray:
    """How far each gap's similarity lies below the nearest peaks on either side of it."""
    return np.array(
        [
            _climb(similarities, position, -1)
            + _climb(similarities, position, 1)
            - 2 * value
            for position, value in enumerate(similarities)
        ]
    )


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    if len(values) < width:
        return values
    kernel = np.ones(width) / width
    return np.convolve(np.pad(values, width // 2, mode="edge"), kernel, mode="valid")


def _topic_count(count: int, minutes: float) -> int:
    return int(
        np.clip(
            round(count / SENTENCES_PER_TOPIC),
            2 if minutes >= SPLIT_SESSION_MINUTES else 1,
            MAX_TOPICS,
        )
    )


def boundaries(sentences: list[ParsedSentence], embeddings: np.ndarray) -> list[int]:
    """Indices of the sentences that start a new topic (the first topic's start, 0, excluded).

    The deepest valleys of the smoothed similarity curve are taken, deepest first, until the
    session has its expected number of topics; a valley shallower than the average one is only
    taken to give a long session its second topic.
    """
    count = len(sentences)
    if count < 2 * MIN_TOPIC_SENTENCES:
        return []
    minutes = (sentences[-1].sentence.end - sentences[0].sentence.start) / 60.0
    wanted = _topic_count(count, minutes)
    window = min(WINDOW_SENTENCES, max(2, count // 4))
    similarities = _smooth(_gap_similarities(embeddings, window), SMOOTHING_GAPS)
    depths = _depth_scores(similarities)
    valleys = np.array(
        [
            position
            for position in range(len(similarities))
            if similarities[position] <= similarities[max(position - 1, 0)]
            and similarities[position]
            <= similarities[min(position + 1, len(similarities) - 1)]
        ]
    )
    if not len(valleys):
        return []
    cutoff = depths[valleys].mean()
    starts = np.array([parsed.sentence.start for parsed in sentences])
    ends = np.array([parsed.sentence.end for parsed in sentences])
    shortest = max(MIN_TOPIC_SENTENCES, int(MIN_TOPIC_FRACTION * count))

    def long_enough(begin: int, end: int) -> bool:
        return (
            end - begin >= shortest
            and ends[end - 1] - starts[begin] >= MIN_TOPIC_SECONDS
        )

    chosen: list[int] = []
    for gap in valleys[np.argsort(-depths[valleys], kind="stable")]:
        if len(chosen) >= wanted - 1 or (chosen and depths[gap] <= cutoff):
            break
        boundary = int(gap) + 1
        edges = sorted([0, count, *chosen, boundary])
        position = edges.index(boundary)
        before, after = edges[position - 1], edges[position + 1]
        if long_enough(before, boundary) and long_enough(boundary, after):
            chosen.append(boundary)
    return sorted(chosen)


def _terms(span: Span) -> list[tuple[str, float]]:
    """Candidate keyphrases of a sentence with their preference weight: lemmatised nouns and names,
    and noun chunks stripped of determiners, pronouns and stop words. Verbs ("think", "go") say
    how people talk, not what about."""
    terms = [
        (token.lemma_.lower(), 1.0)
        for token in span
        if token.pos_ in {"NOUN", "PROPN"}
        and not token.is_stop
        and token.is_alpha
        and len(token) > 2
    ]
    for chunk in span.noun_chunks:
        words = [
            token.lemma_.lower()
            for token in chunk
            if token.pos_ in {"NOUN", "PROPN", "ADJ"} and not token.is_stop
        ]
        if len(words) >= 2:
            terms.append((" ".join(words), PHRASE_PREFERENCE))
    return terms


def keywords_by_topic(spans_by_topic: list[list[Span]]) -> list[list[str]]:
    """Class-based TF-IDF (as in BERTopic): a term ranks high in a topic when it is frequent there
    and rare in the session's other topics. With only two or three long topics that contrast is
    weak, so a term said all through the session ("thing", "time") is also weighed down by how
    many of its sentences it appears in (inverse sentence frequency), and a term's count is
    damped (log), so saying "thing" forty times does not outweigh naming the solar cell eight."""
    counts: list[Counter[str]] = []
    preference: dict[str, float] = {}
    spread: Counter[str] = Counter()
    for spans in spans_by_topic:
        topic_counts: Counter[str] = Counter()
        for span in spans:
            terms = _terms(span)
            spread.update({term for term, _ in terms})
            for term, weight in terms:
                topic_counts[term] += 1
                preference[term] = weight
        counts.append(topic_counts)
    sentence_count = sum(len(spans) for spans in spans_by_topic)
    overall: Counter[str] = Counter()
    for topic_counts in counts:
        overall.update(topic_counts)
    average_words = max(1.0, sum(overall.values()) / max(len(counts), 1))
    keywords: list[list[str]] = []
    for topic_counts in counts:
        scored = sorted(
            topic_counts,
            key=lambda term: (
                -math.log(1 + topic_counts[term])
                * math.log(1 + average_words / overall[term])
                * math.log(1 + sentence_count / spread[term])
                * preference[term],
                term,
            ),
        )
        picked: list[str] = []
        for term in scored:
            if topic_counts[term] < 2 and picked:
                continue
            # A word already inside a picked phrase adds nothing ("control" after "remote control").
            if any(
                term in phrase.split() or phrase in term.split() for phrase in picked
            ):
                continue
            picked.append(term)
            if len(picked) == KEYWORDS_PER_TOPIC:
                break
        keywords.append(picked)
    return keywords


def title_from(keywords: list[str]) -> str:
    phrases = keywords[:TITLE_KEYPHRASES]
    if not phrases:
        return "General discussion"
    title = ", ".join(phrases)
    return title[0].upper() + title[1:]


def central_sentences(
    members: list[int],
    embeddings: np.ndarray,
    sentences: list[ParsedSentence],
    count: int = 2,
) -> str:
    """The `count` sentences closest to the topic's mean embedding, in the order they were said."""
    centroid = embeddings[members].mean(axis=0)
    closeness = embeddings[members] @ centroid
    best = sorted(members[position] for position in np.argsort(-closeness)[:count])
    return " ".join(sentences[index].sentence.text.strip() for index in best)


def segment_topics(
    sentences: list[ParsedSentence], embeddings: np.ndarray
) -> list[Topic]:
    """Contiguous topics covering every sentence, each with keywords, a title and a summary."""
    if not sentences:
        return []
    edges = [0, *boundaries(sentences, embeddings), len(sentences)]
    spans = [list(range(begin, end)) for begin, end in itertools.pairwise(edges)]
    keywords = keywords_by_topic(
        [[sentences[index].span for index in members] for members in spans]
    )
    return [
        Topic(
            index=topic_index,
            title=title_from(topic_keywords),
            keywords=topic_keywords,
            start=sentences[members[0]].sentence.start,
            end=sentences[members[-1]].sentence.end,
            sentence_indices=members,
            summary=central_sentences(members, embeddings, sentences),
        )
        for topic_index, (members, topic_keywords) in enumerate(zip(spans, keywords))
    ]
