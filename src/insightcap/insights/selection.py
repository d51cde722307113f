"""Turning picked sentences into insights, the same way for the section head's picks (structure.py)
and for commitments (actions/): leave out what says the same as one already kept, and make each
kept sentence an insight carrying its own words, speaker and moment as evidence.

A module of its own so that both can import it: structure.py imports the actions package.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np

from insightcap.insights.schema import Insight, Section, Sentence


def distinct(
    vectors: np.ndarray,
    order: Iterable[int],
    threshold: float,
    *,
    group_of: Callable[[int], Hashable] | None = None,
    per_group: int = 0,
) -> list[int]:
    """The indices of `order` kept, in that order: each one is left out when it is `threshold` or
    more similar (dot product of its row of `vectors`, a cosine for unit vectors) to one kept before
    it, and, with `group_of`, when its group already has `per_group` kept. `order` goes from the
    most wanted, so of two near-duplicates the first is kept."""
    kept: list[int] = []
    in_group: Counter[Hashable] = Counter()
    for index in order:
        group = group_of(index) if group_of is not None else None
        if group_of is not None and in_group[group] >= per_group:
            continue
        if kept and float(np.max(vectors[kept] @ vectors[index])) >= threshold:
            continue
        kept.append(index)
        in_group[group] += 1
    return kept


def sentence_insight(
    sentence: Sentence,
    section: Section,
    statement: str,
    *,
    topic_index: int,
    confidence: float,
    **details: Any,
) -> Insight:
    """The insight `sentence` is evidence for: its words as the quote, its speaker and moment.
    `details` are the section's own fields (`action` of a commitment, `resource_name`)."""
    return Insight(
        section=section,
        statement=statement,
        quote=sentence.text,
        speaker=sentence.speaker,
        start=sentence.start,
        end=sentence.end,
        topic_index=topic_index,
        confidence=round(confidence, 4),
        sentence_indices=[sentence.index],
        **details,
    )
