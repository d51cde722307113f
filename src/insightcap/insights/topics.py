"""Splits a session into topics: contiguous stretches of sentences about one subject, each named
by its keyphrases.

Where a topic starts is the trained topic head's call (topic_head.py): gradient-boosted trees over
what every gap between two sentences looks like — embedding and word similarity across it, the
speakers on either side, how the next sentence opens and whether it sounds like announcing a
subject — learned from QMSum's annotated meetings (eval/train_topics.py; figures in
models/topic_head/README.md). Untrained similarity dips (TextTiling) do worse than placing no
boundary at all (eval.topics: Pk 0.572 against 0.385; 0.375 only with a prior on the number of
topics): people stay on a subject far longer than local dips suggest.
"""

from __future__ import annotations

import calendar
import itertools
import math
from collections import Counter
from collections.abc import Collection, Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
from spacy.tokens import Span, Token

from insightcap.insights.nlp import fluent_text
from insightcap.insights.schema import OpeningLine, Topic
from insightcap.insights.sentences import ParsedSentence
from insightcap.insights.topic_head import load_topic_head
from insightcap.resources import read_meta, require_model_file, trained_model_file

KEYWORDS_PER_TOPIC = 6
TITLE_KEYPHRASES = 3
# A multi-word noun chunk ("remote control") names a subject better than its words one by one.
PHRASE_PREFERENCE = 1.5
# A theme's opening lines come from sentences of at least this many words: the shortest ones ("I
# think so.", "I guess.") sit near every topic's mean embedding, as they say nothing in particular.
OPENING_MIN_WORDS = 8
# Terms said in fewer training meetings than this are left out of the background: to it they are
# as rare as a term it never saw.
BACKGROUND_MIN_MEETINGS = 3
# A term said in more than this share of the background's meetings is common talk, weighed down.
COMMON_SHARE = 0.25


def boundaries(sentences: list[ParsedSentence], embeddings: np.ndarray) -> list[int]:
    """Indices of the sentences that start a new topic (the first topic's start, 0, excluded)."""
    if len(sentences) < 2:
        return []
    minutes = (sentences[-1].sentence.end - sentences[0].sentence.start) / 60.0
    return load_topic_head().boundaries(
        [parsed.sentence.text for parsed in sentences],
        [parsed.sentence.speaker for parsed in sentences],
        embeddings,
        minutes,
    )


# People and dates are who spoke to whom and when, not what about: a theme named "complete
# picture, march, marcus" reads as noise, and a person's name as a heading singles them out.
NOT_SUBJECTS = frozenset({"PERSON", "DATE", "TIME"})
CALENDAR_WORDS = frozenset(name.lower() for name in (*calendar.month_name, *calendar.day_name) if len(name) > 3)


def people_named(spans: Iterable[Span], speakers: Iterable[str] = ()) -> set[str]:
    """Lower-cased words that name a person here: the words of the `speakers`' names, and whatever
    the parse took for a person's name anywhere in `spans` (the small model tags "Gareth" in one
    sentence and misses it in the next, and takes "Marcus" for an organisation)."""
    tagged = {token.lower_ for span in spans for token in span if token.ent_type_ == "PERSON"}
    return tagged | {word.lower() for name in speakers for word in name.split()}


def _names_a_subject(token: Token, people: Collection[str]) -> bool:
    """Whether a noun or name may name a topic: not a person, date or time (by the parse's entities
    when it has them, and month and day names always, as a parse without entities misses them).
    Only a proper noun is taken for a person's name: "Marketing" the speaker is not "marketing" the
    subject."""
    return (token.ent_type_ not in NOT_SUBJECTS and token.lower_ not in CALENDAR_WORDS
            and not (token.pos_ == "PROPN" and token.lower_ in people))


def candidate_terms(span: Span, people: Collection[str] = frozenset()) -> list[tuple[str, float]]:
    """Candidate keyphrases of a sentence with their preference weight: lemmatised nouns and names,
    and noun chunks stripped of determiners, pronouns and stop words. Verbs ("think", "go") say
    how people talk, not what about; nor do `people`'s names."""
    terms = [
        (token.lemma_.lower(), 1.0)
        for token in span
        if token.pos_ in {"NOUN", "PROPN"}
        and not token.is_stop
        and token.is_alpha
        and len(token) > 2
        and _names_a_subject(token, people)
    ]
    for chunk in span.noun_chunks:
        words = [
            token.lemma_.lower()
            for token in chunk
            if token.pos_ in {"NOUN", "PROPN", "ADJ"} and not token.is_stop and _names_a_subject(token, people)
        ]
        if len(words) >= 2:
            terms.append((" ".join(words), PHRASE_PREFERENCE))
    return terms


def background_path() -> Path:
    return trained_model_file("keyphrase_background", "background.npz")


@lru_cache(maxsize=1)
def meetings_saying() -> tuple[dict[str, int], int]:
    """In how many of the background's meetings each common term was said, and how many meetings
    it has (eval/train_keyphrases.py)."""
    path = background_path()
    require_model_file(path, "The keyphrase background", "eval.train_keyphrases")
    with np.load(path) as stored:
        seen = dict(zip(stored["terms"].tolist(), stored["meetings_seen"].tolist(), strict=True))
        return seen, int(read_meta(stored)["meetings"])


def _commonness_weight(seen: int, meetings: int) -> float:
    """1 for a term said in at most COMMON_SHARE of the background's meetings, less the more meetings
    say it (by inverse document frequency). Rarer terms are not favoured: a term no other meeting
    says is as often a slip ("jen", "banana") as the subject."""
    return min(1.0, math.log(1 + meetings / (1 + seen)) / math.log(1 + 1 / COMMON_SHARE))


def keywords_by_topic(spans_by_topic: list[list[Span]], speakers: Iterable[str] = ()) -> list[list[str]]:
    """Class-based TF-IDF (as in BERTopic): a term ranks high in a topic when it is frequent there
    and rare in the session's other topics. With only two or three long topics that contrast is
    weak, so a term said all through the session ("thing", "time") is also weighed down by how
    many of its sentences it appears in (inverse sentence frequency), and a term's count is
    damped (log), so saying "thing" forty times does not outweigh naming the solar cell eight.
    Last, a term said in most meetings anywhere ("lot", "point", "guy") is weighed down by how many
    meetings of a background of 162 say it: it is how meetings talk, not what this one is about."""
    background, background_meetings = meetings_saying()
    counts: list[Counter[str]] = []
    preference: dict[str, float] = {}
    spread: Counter[str] = Counter()
    people = people_named((span for spans in spans_by_topic for span in spans), speakers)
    for spans in spans_by_topic:
        topic_counts: Counter[str] = Counter()
        for span in spans:
            terms = candidate_terms(span, people)
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
                * _commonness_weight(background.get(term, 0), background_meetings)
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


def opening_lines(
    members: list[int],
    embeddings: np.ndarray,
    sentences: list[ParsedSentence],
    count: int = 2,
) -> list[OpeningLine]:
    """The `count` sentences closest to the topic's mean embedding, in the order they were said,
    without their "um"s and restarts: the memo opens the theme with them, each with who said it
    and when, since they may be minutes and speakers apart.
    Only sentences of OPENING_MIN_WORDS words or more are chosen, unless the topic has none."""
    centroid = embeddings[members].mean(axis=0)
    worded = [index for index in members if len(sentences[index].sentence.text.split()) >= OPENING_MIN_WORDS]
    candidates = worded or members
    closeness = embeddings[candidates] @ centroid
    best = sorted(candidates[position] for position in np.argsort(-closeness)[:count])
    return [
        OpeningLine(
            text=fluent_text(sentences[index].span),
            speaker=sentences[index].sentence.speaker,
            start=sentences[index].sentence.start,
        )
        for index in best
    ]


def segment_topics(
    sentences: list[ParsedSentence], embeddings: np.ndarray
) -> list[Topic]:
    """Contiguous topics covering every sentence, each with keywords, a title and opening lines."""
    if not sentences:
        return []
    edges = [0, *boundaries(sentences, embeddings), len(sentences)]
    spans = [list(range(begin, end)) for begin, end in itertools.pairwise(edges)]
    keywords = keywords_by_topic(
        [[sentences[index].span for index in members] for members in spans],
        {parsed.sentence.speaker for parsed in sentences if parsed.sentence.speaker},
    )
    return [
        Topic(
            index=topic_index,
            title=title_from(topic_keywords),
            keywords=topic_keywords,
            start=sentences[members[0]].sentence.start,
            end=sentences[members[-1]].sentence.end,
            sentence_indices=members,
            opening=opening_lines(members, embeddings, sentences),
        )
        for topic_index, (members, topic_keywords) in enumerate(zip(spans, keywords))
    ]
