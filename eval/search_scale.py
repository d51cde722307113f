"""Search at scale: 100,000 insights made of real meeting sentences, searched with real queries.

Sentences are sampled from the QMSum transcripts (validation and training meetings), stored as the
insights of 1,000 sessions through the storage layer, and indexed by `rebuild_indexes` (keyword and
vector index from the database; embeddings are computed once and cached in /tmp). Then: search
latency over the QMSum queries (query embedding included, model load excluded), time to index one
more session of 100 insights (embedding them with both models included, and again for a session
whose embeddings are already stored: the index update alone), the process's peak memory, and
where a search's time goes (embedding the query, the faiss scan, the keyword search, each timed alone).

    python -m eval.search_scale [--data ../shared/eval] [--n 100000]
"""

from __future__ import annotations

import hashlib
import random
import re
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from eval.common import argument_parser, print_table, report
from eval.retrieval import read_jsonl, settings_for, turn_words

PER_SESSION = 100
SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def real_sentences(data: Path) -> list[str]:
    files = [data / "qmsum" / "meetings.jsonl", *sorted((data / "qmsum" / "train_extra").glob("meetings*.jsonl"))]
    sentences = []
    for path in files:
        for meeting in read_jsonl(path):
            for turn in meeting["turns"]:
                for sentence in SENTENCE_END.split(" ".join(turn_words(turn))):
                    if len(sentence.split()) >= 6:
                        sentences.append(sentence)
    return sentences


def cached_embeddings(embedder, texts: list[str]) -> np.ndarray:
    """Embeddings of `texts` by `embedder`, computed once per text list and model (minutes for 100,000)."""
    digest = hashlib.sha256("\n".join([embedder.model_name, *texts]).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"insightcap-scale-{digest}.npy"
    if cache.exists():
        return np.load(cache)
    vectors = embedder.encode(texts, batch_size=256)
    np.save(cache, vectors)
    return vectors


def store_insights(
    settings, statements: list[str], vectors: dict[str, np.ndarray] | None, sessions: int, offset: int = 0
) -> list[str]:
    from insightcap.insights.schema import Insight, Section, SessionInsights
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    sections = list(Section)
    ids = []
    for number in range(sessions):
        session_id = f"s{offset + number:05d}"
        chunk = slice(number * PER_SESSION, (number + 1) * PER_SESSION)
        insights = [
            Insight(section=sections[i % len(sections)], statement=text, quote=text, speaker=f"Speaker {i % 4 + 1}",
                    start=10.0 * i, end=10.0 * i + 8, topic_index=0)
            for i, text in enumerate(statements[chunk])
        ]
        with session_scope(settings) as db:
            repo.create_session(db, session_id=session_id, title=f"Session {offset + number}", source_kind="transcript",
                                original_filename="x.vtt", stored_path="media/x")
            rows = repo.replace_insights(db, session_id, SessionInsights(topics=[], insights=insights))
            for column, column_vectors in (vectors or {}).items():  # both embedding columns, when given
                for row, vector in zip(rows, column_vectors[chunk]):
                    setattr(row, column, vector.astype(np.float32).tobytes())
        ids.append(session_id)
    return ids


def stage_latencies(settings, queries: list[str]) -> dict[str, list[float]]:
    """Each stage of a search timed alone (ms per query): where the time of a search goes."""
    from insightcap.search.encoder import search_embedder
    from insightcap.search.hybrid import MIN_CANDIDATES
    from insightcap.search.indexing import vector_index_path
    from insightcap.search.keyword import keyword_ranking, phrase_ranking
    from insightcap.storage.db import session_scope
    from insightcap.themes.index import VectorIndex

    embedder, index = search_embedder(settings), VectorIndex.cached(vector_index_path(settings))
    stages: dict[str, list[float]] = {"embedding": [], "faiss": [], "keyword": [], "phrase": []}
    with session_scope(settings) as db:
        for query in queries:
            started = time.perf_counter()
            vector = embedder.encode([query])[0]
            embedded = time.perf_counter()
            index.search(vector, MIN_CANDIDATES)
            scanned = time.perf_counter()
            keyword_ranking(db, query, MIN_CANDIDATES)
            matched = time.perf_counter()
            phrase_ranking(db, query, MIN_CANDIDATES)
            ended = time.perf_counter()
            bounds = [(started, embedded), (embedded, scanned), (scanned, matched), (matched, ended)]
            for stage, (start, end) in zip(stages, bounds, strict=True):
                stages[stage].append(1000 * (end - start))
    return stages


def main() -> None:
    from insightcap.search.hybrid import search
    from insightcap.search.indexing import RowEncoders, index_session, rebuild_indexes
    from insightcap.search.schema import SearchFilters

    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of insights (default: %(default)s)")
    args = parser.parse_args()
    settings = settings_for(None)
    rng = random.Random(0)
    pool = real_sentences(args.data)
    statements = [rng.choice(pool) for _ in range(args.n + 2 * PER_SESSION)]
    encoders = RowEncoders.for_settings(settings)
    texts = [f"{text} {text}" for text in statements[: args.n]]
    vectors = {column: cached_embeddings(embedder, texts) for column, embedder in encoders.by_column().items()}

    started = time.perf_counter()
    store_insights(settings, statements, vectors, args.n // PER_SESSION)
    store_s = time.perf_counter() - started
    started = time.perf_counter()
    rebuild_indexes(settings)
    build_s = time.perf_counter() - started

    encoders.search.encode(["warm up"])
    extra = store_insights(settings, statements[args.n :], None, 1, offset=args.n // PER_SESSION)[0]
    started = time.perf_counter()
    index_session(settings, extra)
    add_ms = 1000 * (time.perf_counter() - started)
    last = statements[args.n + PER_SESSION :]
    last_vectors = {column: embedder.encode([f"{text} {text}" for text in last])
                    for column, embedder in encoders.by_column().items()}
    embedded = store_insights(settings, last, last_vectors, 1, offset=args.n // PER_SESSION + 1)[0]
    started = time.perf_counter()
    index_session(settings, embedded)
    add_index_ms = 1000 * (time.perf_counter() - started)

    queries = [query["query"] for query in read_jsonl(args.data / "qmsum" / "queries.jsonl")]
    search(settings, queries[0])
    latencies, filtered = [], []
    for query in queries:
        started = time.perf_counter()
        hits = search(settings, query, limit=20)
        latencies.append(1000 * (time.perf_counter() - started))
        assert hits, f"no hits for {query!r}"
    for query in queries[:50]:
        started = time.perf_counter()
        search(settings, query, SearchFilters(section="idea"), limit=20)
        filtered.append(1000 * (time.perf_counter() - started))
    stages = stage_latencies(settings, queries)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "n": args.n,
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "build_s": round(build_s, 1),
        "add_ms": round(add_ms, 1),
        "add_index_ms": round(add_index_ms, 1),
        "peak_rss_mb": round(peak_mb),
        "store_s": round(store_s, 1),
        "filtered_p95_ms": round(float(np.percentile(filtered, 95)), 1),
        **{f"{stage}_p50_ms": round(float(np.percentile(times, 50)), 1) for stage, times in stages.items()},
    }
    print_table(
        f"Search over {args.n:,} insights ({len(queries)} QMSum queries, hybrid, top 20)",
        ["measure", "value"],
        [["latency p50 (ms)", figures["p50_ms"]], ["latency p95 (ms)", figures["p95_ms"]],
         ["latency p95, section filter (ms)", figures["filtered_p95_ms"]],
         ["index build from database (s)", figures["build_s"]], ["storing the rows (s)", figures["store_s"]],
         [f"add one session of {PER_SESSION} insights (ms)", figures["add_ms"]],
         ["add one session whose embeddings are stored (ms)", figures["add_index_ms"]],
         ["peak RSS (MB)", figures["peak_rss_mb"]],
         *[[f"one search's {stage}, p50 (ms)", figures[f"{stage}_p50_ms"]] for stage in stages]],
    )
    report("search_scale", figures)


if __name__ == "__main__":
    main()
