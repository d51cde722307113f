"""Keyword search: the user's words turned into a safe FTS5 query, ranked by BM25.

User input is never passed to FTS5 as syntax: it is cut into words, and each word is quoted, so
`"foo`, `AND(` or `NEAR/3` are searched as words instead of failing. Words are OR-ed (any of them
may match; BM25 ranks documents matching more, and rarer, words first) after dropping stop words,
which would otherwise match nearly every passage of spoken conversation.

A question often names who said it ("what did the professor think about clustering?"); the
speakers a query refers to are found among the speakers of the matched documents, so the ranking
can prefer the moments where they speak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sqlalchemy import text
from sqlalchemy.orm import Session

_WORD = re.compile(r"\w+", re.UNICODE)
# Words that describe the request rather than its subject ("summarize the discussion about X",
# "what did Ana think about X"); they match talk about anything.
_REQUEST_WORDS = frozenset(
    ["summarize", "summarise", "summary", "discuss", "discussed", "discussion", "discussions", "talk", "talked", "think", "thought", "opinion", "opinions", "say", "said", "mention", "mentioned", "describe"]
)


def words_of(text: str) -> list[str]:
    """The words of `text`, lower-cased, as keyword search cuts a query: a phrase is these in order."""
    return _WORD.findall(text.lower())


def query_terms(query: str) -> list[str]:
    """The words of `query` worth matching, in order, without repeats."""
    words = [word for word in words_of(query) if len(word) > 1 or word.isdigit()]
    content = [word for word in words if word not in ENGLISH_STOP_WORDS and word not in _REQUEST_WORDS]
    return list(dict.fromkeys(content or words))


def fts_query(query: str) -> str | None:
    """An FTS5 MATCH expression OR-ing the quoted terms of `query`, or None when it has no words."""
    terms = query_terms(query)
    return " OR ".join(f'"{term}"' for term in terms) if terms else None


def _phrase_length(name: list[str], query: list[str]) -> int:
    """The most consecutive words of `name` that appear consecutively in `query`, counting only
    runs with a word that is not a stop word: "PhD A" in "what did PhD A say" is 2, "Professor A"
    in "did the professor like a plan" is 1, a lone "a" or "the" is 0."""
    for size in range(len(name), 0, -1):
        for first in range(len(name) - size + 1):
            run = name[first : first + size]
            if any(len(word) > 1 and word not in ENGLISH_STOP_WORDS for word in run) and any(
                query[i : i + size] == run for i in range(len(query) - size + 1)
            ):
                return size
    return 0


def mentioned_speakers(query: str, names: Iterable[str]) -> set[str]:
    """The names (speaker labels or given names) that `query` refers to; only the best-matching
    ones, so "Grad E" wins over every other "Grad", while "the professor" matches each "Professor X"."""
    words = words_of(query)
    lengths = {name: _phrase_length(words_of(name), words) for name in set(names)}
    best = max(lengths.values(), default=0)
    return {name for name, length in lengths.items() if length == best} if best else set()


def _ranked_matches(db: Session, match: str, k: int, allowed: Sequence[int] | None) -> list[tuple[int, float]]:
    """Up to `k` (key, BM25 score) pairs of the documents `match` finds, best first (FTS5 scores
    are negative: lower is better).

    With `allowed`, matches are read best first until `k` allowed ones are found: SQLite would
    otherwise test each match against the whole allowed list.
    """
    if allowed is not None and not allowed:
        return []
    sql = "SELECT rowid, rank FROM search_text WHERE search_text MATCH :match ORDER BY rank"
    if allowed is None:
        rows = db.execute(text(sql + " LIMIT :k"), {"match": match, "k": k})
        return [(int(key), float(score)) for key, score in rows]
    permitted, ranked = set(allowed), []
    for key, score in db.execute(text(sql), {"match": match}):
        if key in permitted:
            ranked.append((int(key), float(score)))
            if len(ranked) == k:
                break
    return ranked


def keyword_ranking(db: Session, query: str, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """Up to `k` (key, BM25 score) pairs of documents with any term of `query`, best first."""
    match = fts_query(query)
    return _ranked_matches(db, match, k, allowed) if match else []


def phrase_ranking(db: Session, query: str, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """Up to `k` (key, BM25 score) pairs of documents saying all of `query`'s words in its order
    ("like a balloon in a cage"), best first; none for a one-word query.

    Someone searching for a remembered quote wants the moment it was said, but OR-ed terms rank a
    short insight sharing one of its words as high as the passage that says it all.
    """
    words = words_of(query)
    return _ranked_matches(db, '"' + " ".join(words) + '"', k, allowed) if len(words) > 1 else []
