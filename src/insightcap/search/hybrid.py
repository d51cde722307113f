"""Search across sessions: keyword (FTS5 BM25) and semantic (faiss) rankings fused by reciprocal rank.

Keyword search finds the exact name of a tool or a person; semantic search finds "we struggled to
keep new members" from "retention problems". Reciprocal rank fusion combines the two orderings
without having to make a BM25 score and a cosine similarity comparable. When the query names a
speaker ("what did the professor think about…"), the candidates where that speaker speaks form a
further ranking, so the moments they spoke in rise without hiding everything else. So do the
documents saying the query's words as one phrase: someone looking for a remembered quote ("like a
balloon in a cage") wants the moment it was said, while OR-ed terms rank any short insight sharing
one of its words beside it. On 150 phrases of 4-7 words said in the 35 eval meetings
(eval/retrieval.py's known-item search), this lifted hybrid recall@10 / MRR from 0.547 / 0.338 to
0.960 / 0.816 and left the QMSum questions' figures as they were (they are rarely said verbatim).

No cross-encoder ships on PyPI to re-rank with. A re-ranker learned from the rankings themselves
(boosted trees over ranks, scores, speaker match and per-session aggregates, trained on QMSum's
train_extra queries) did not beat plain fusion: recall@10 / MRR 0.501 / 0.340 against 0.522 / 0.332
cross-validated (recall lost, MRR barely gained), 0.629 / 0.371 against 0.637 / 0.387 on the 35
eval meetings.

The semantic ranking uses MiniLM's six layers fine-tuned for search (multiple-negatives loss on
814 train_extra queries and their passages, hard negatives from other teams' meetings; see
models/search_encoder/README.md). Over the 35 eval meetings it lifted hybrid search from 0.641 /
0.391 to 0.667 / 0.423 (within the query's program 0.819 / 0.557 → 0.861 / 0.590). Its space groups
talk by meeting, so themes keep clustering the packaged model's vectors, stored beside these.
With it, equal weights and k = 60 stay: on the 281 queries of the encoder's held-out train_extra
programs (over all 162 meetings) they gave 0.466 / 0.273, a semantic weight of 1.5 or 2 0.456 /
0.265 and 0.452 / 0.258, k = 30 0.477 / 0.275 (within noise).
Fusing scores instead of ranks (a weighted sum of BM25 and cosine, each min-max, z-score or
max-normalised; 36 settings) and adding to a passage's cosine a share of its neighbouring passages'
(the moment around it) did not beat it either, on the 35 eval meetings with a speaker ranking on
top: RRF 0.662 / 0.418; score fusion at best 0.662 / 0.423 (min-max, cosine weight 0.6) or 0.658 /
0.434 (max-normalised, 0.8); half the best neighbour's cosine added 0.662 / 0.438, but it lowered
semantic search alone (0.612 / 0.384 → 0.603 / 0.381). Each best is the peak of a noisy grid of
237 queries (one query is 0.004 of recall), not measured on train_extra.
Pseudo-relevance feedback did not beat it either, on the same 281 held-out train_extra queries
(baseline 0.466 / 0.273): expanding the keyword query with the top documents' tf-idf words at best
0.470 / 0.266, Rocchio on the query vector (top 3-5 passages, β 0.5-1) at best 0.456 / 0.266, a
ranking of documents by their meeting's fused strength (sum of its best 1-5 scores) 0.463 / 0.277.
The same by BM25 strength reached 0.495 / 0.286 (best 5), the best of 18 settings, but lost on the
other programs' 814 queries (0.624 / 0.426 against 0.635 / 0.429), so it is not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from insightcap.config import Settings
from insightcap.search.documents import allowed_keys, load_rows, speakers_of, to_hits
from insightcap.search.encoder import search_embedder
from insightcap.search.indexing import check_indexed_model, vector_index_path
from insightcap.search.keyword import (
    keyword_ranking,
    mentioned_speakers,
    phrase_ranking,
)
from insightcap.search.schema import SearchFilters, SearchHit
from insightcap.storage.db import session_scope
from insightcap.themes.index import VectorIndex

Mode = Literal["hybrid", "keyword", "semantic"]

# The usual RRF constant: a document's weight fades slowly with its rank in each list.
RRF_K = 60
# How many candidates each ranking contributes: a passage ranked low by one method and high by the
# other must still be seen by the fusion (100 beat 40 on QMSum; both are cheap).
MIN_CANDIDATES = 100
CANDIDATES_PER_RESULT = 4
# The semantic ranking (embedding the query, then faiss) runs beside the keyword ranking (SQLite):
# both spend most of their time outside the GIL, so a search costs about the longer of the two
# rather than their sum. A few workers, so concurrent web requests don't queue behind each other.
_SEMANTIC_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="semantic-ranking")


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]]) -> list[tuple[int, float]]:
    """Keys ordered by the sum over rankings of 1 / (RRF_K + rank)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def semantic_ranking(
    settings: Settings, query: str, k: int, allowed: Sequence[int] | None = None
) -> list[tuple[int, float]]:
    path = vector_index_path(settings)
    if not path.exists():
        return []
    embedder = search_embedder(settings)
    check_indexed_model(settings, embedder)
    return VectorIndex.cached(path).search(embedder.encode([query])[0], k, allowed)


def speaker_ranking(query: str, ranked: Sequence[int], speakers: dict[int, set[str]]) -> list[int]:
    """The documents of `ranked` (in its order) in which a speaker the query names speaks."""
    named = mentioned_speakers(query, {name for names in speakers.values() for name in names})
    return [key for key in ranked if named & speakers.get(key, set())] if named else []


def _without_overlaps(hits: list[SearchHit]) -> list[SearchHit]:
    """Passages overlap by design; show a moment once, at its best-ranked passage."""
    kept: list[SearchHit] = []
    for hit in hits:
        if hit.kind == "passage" and any(
            other.kind == "passage" and other.session_id == hit.session_id
            and other.start < hit.end and hit.start < other.end
            for other in kept
        ):
            continue
        kept.append(hit)
    return kept


def search(
    settings: Settings,
    query: str,
    filters: SearchFilters | None = None,
    limit: int = 20,
    *,
    mode: Mode = "hybrid",
) -> list[SearchHit]:
    """The best `limit` insights and passages for `query` among those `filters` allow."""
    filters = filters or SearchFilters()
    if not query.strip() or limit <= 0:
        return []
    candidates = max(limit * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
    with session_scope(settings) as db:
        allowed = allowed_keys(db, filters)
        pending = None
        if mode != "keyword":
            pending = _SEMANTIC_WORKERS.submit(semantic_ranking, settings, query, candidates, allowed)
        keyword = keyword_ranking(db, query, candidates, allowed) if mode != "semantic" else []
        # Only hybrid search weighs exact phrases and speakers: keyword and semantic stay the plain methods.
        phrase = phrase_ranking(db, query, candidates, allowed) if mode == "hybrid" else []
        semantic = pending.result() if pending else []
        rankings = [[key for key, _ in ranking] for ranking in (keyword, semantic, phrase)]
        fused = reciprocal_rank_fusion(rankings)[:candidates]
        # One read of the candidates serves both the speaker ranking and the hits: re-fusing only
        # raises candidates, so the best `candidates` stay the same documents.
        rows = load_rows(db, [key for key, _ in fused])
    if mode == "hybrid":
        speakers = {key: speakers_of(row) for key, row in rows.items()}
        by_speaker = speaker_ranking(query, [key for key, _ in fused], speakers)
        if by_speaker:
            fused = reciprocal_rank_fusion([*rankings, by_speaker])[:candidates]
    hits = to_hits(rows, fused, with_query_words={key for key, _ in keyword}, query=query)
    return _without_overlaps(hits)[:limit]
