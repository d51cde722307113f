"""Splits a session into topics: contiguous stretches of sentences about one subject.

Boundaries come from TextTiling (Hearst, 1997) over sentence embeddings: at every gap between
sentences, compare the mean embedding of the sentences before with those after; a gap whose
similarity dips well below the peaks around it (a high "depth score") is where the conversation
turned. How many topics there are is read from the depth scores themselves, then bounded by
what a facilitator can use: roughly one topic per 3–8 minutes of talk, never more than 12.
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
MINUTES_PER_TOPIC = (3.0, 8.0)  # (shortest, longest) typical topic
MIN_TOPIC_SENTENCES = 8
MIN_TOPIC_SECONDS = 90.0
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


def _smooth(values: np.ndarray, width: int = 3) -> np.ndarray:
    if len(values) < width:
        return values
    kernel = np.ones(width) / width
    return np.convolve(np.pad(values, width // 2, mode="edge"), kernel, mode="valid")


def _topic_count_bounds(minutes: float) -> tuple[int, int]:
    shortest, longest = MINUTES_PER_TOPIC
    fewest = max(1, round(minutes / longest))
    most = max(1, min(MAX_TOPICS, math.floor(minutes / shortest)))
    return min(fewest, most), most


def boundaries(sentences: list[ParsedSentence], embeddings: np.ndarray) -> list[int]:
    """Indices of the sentences that start a new topic (the first topic's start, 0, excluded)."""
    count = len(sentences)
    if count < 2 * MIN_TOPIC_SENTENCES:
        return []
    minutes = (sentences[-1].sentence.end - sentences[0].sentence.start) / 60.0
    fewest, most = _topic_count_bounds(minutes)
    window = int(np.clip(count // 30, 4, 15))
    similarities = _smooth(_gap_similarities(embeddings, window))
    depths = _depth_scores(similarities)
    # Only valleys (local minima of similarity) can be boundaries, and only those deeper than the
    # average valley. (Hearst's looser mean − σ/2 cut-off gave a topic every 3 minutes on AMI
    # meetings whose annotators marked one every 5–10.)
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

    def long_enough(begin: int, end: int) -> bool:
        return (
            end - begin >= MIN_TOPIC_SENTENCES
            and ends[end - 1] - starts[begin] >= MIN_TOPIC_SECONDS
        )

    chosen: list[int] = []
    for gap in valleys[np.argsort(-depths[valleys], kind="stable")]:
        if len(chosen) >= most - 1 or (
            len(chosen) >= fewest - 1 and depths[gap] <= cutoff
        ):
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
    and rare in the session's other topics."""
    counts: list[Counter[str]] = []
    preference: dict[str, float] = {}
    for spans in spans_by_topic:
        topic_counts: Counter[str] = Counter()
        for span in spans:
            for term, weight in _terms(span):
                topic_counts[term] += 1
                preference[term] = weight
        counts.append(topic_counts)
    overall: Counter[str] = Counter()
    for topic_counts in counts:
        overall.update(topic_counts)
    average_words = max(1.0, sum(overall.values()) / max(len(counts), 1))
    keywords: list[list[str]] = []
    for topic_counts in counts:
        total = max(1, sum(topic_counts.values()))
        scored = sorted(
            topic_counts,
            key=lambda term: (
                -(topic_counts[term] / total)
                * math.log(1 + average_words / overall[term])
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
