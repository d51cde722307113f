"""The memo's summary against human meeting summaries: `python -m eval.summary --data DIR`.

For every meeting in DIR/qmsum/summaries.jsonl the product runs as it does on an imported
transcript (extract_insights, then build_memo), and
the memo's "Background and why it matters" text is scored against the human summary with ROUGE-1/2/L (F-measure, Porter
stemming) and the cosine of their MiniLM embeddings. Beside it, in the same run and at the same
length in words, three extractive baselines over the same sentences: lead-N (the first N words),
LexRank (PageRank on TF-IDF cosine, Erkan & Radev 2004) and TextRank (PageRank on MiniLM cosine,
Mihalcea & Tarau 2004). The table also gives the seconds build_memo took per meeting (titles,
follow-up questions and summary), which is what a user waits for after the structure stage.

By default the memo is built as a user gets it: with the local text generator when it is installed
(`make demo` installs it), which writes a summary of each topic and has it checked against the
transcript, about 35 seconds per memo on 2 CPU cores; without it, the extractive summary. On the
35 development meetings that is ROUGE-2 0.067 with the generator and 0.056 without.
`--generator none` measures the extractive summary every installation has, in a few minutes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from rouge_score import rouge_scorer
from sklearn.feature_extraction.text import TfidfVectorizer

from eval.common import argument_parser, print_table, report
from eval.pipeline_inputs import qmsum_transcript, read_jsonl
from insightcap.config import Settings
from insightcap.generator.factory import CHOICES, get_generator
from insightcap.insights.structure import extract_insights
from insightcap.memo.draft import build_memo
from insightcap.memo.schema import MemoDraft
from insightcap.themes.embed import Embedder

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
# LexRank's edge threshold on TF-IDF cosine, as in the original paper.
LEXRANK_THRESHOLD = 0.1
DAMPING = 0.85


def memo_summary(memo: MemoDraft) -> str:
    """What the memo says under "Background and why it matters": the overview and its evidence."""
    evidence = [insight.quote for insight in memo.background_insights]
    return " ".join([memo.background, memo.why_it_matters, *evidence]).strip()


def pagerank(similarity: np.ndarray) -> np.ndarray:
    """Stationary scores of a random walk over the sentence graph (rows normalised, with damping)."""
    count = len(similarity)
    weights = similarity.copy()
    np.fill_diagonal(weights, 0.0)
    totals = weights.sum(axis=1, keepdims=True)
    transition = np.divide(weights, totals, out=np.full_like(weights, 1.0 / count), where=totals > 0)
    scores = np.full(count, 1.0 / count)
    for _ in range(100):
        updated = (1 - DAMPING) / count + DAMPING * transition.T @ scores
        if np.abs(updated - scores).sum() < 1e-8:
            return updated
        scores = updated
    return scores


def take_words(texts: Sequence[str], order: Sequence[int], words: int) -> str:
    """Sentences in `order` until `words` words are reached, then put back in the order they were said."""
    chosen: list[int] = []
    total = 0
    for index in order:
        if total >= words:
            break
        chosen.append(int(index))
        total += len(texts[index].split())
    return " ".join(texts[index] for index in sorted(chosen))


def lead(texts: Sequence[str], words: int) -> str:
    return " ".join(" ".join(texts).split()[:words])


def lexrank(texts: Sequence[str], words: int) -> str:
    vectors = TfidfVectorizer(stop_words="english").fit_transform(texts)
    similarity = (vectors @ vectors.T).toarray()
    graph = (similarity > LEXRANK_THRESHOLD).astype(float)
    return take_words(texts, np.argsort(-pagerank(graph), kind="stable"), words)


def textrank(texts: Sequence[str], embeddings: np.ndarray, words: int) -> str:
    similarity = np.clip(embeddings @ embeddings.T, 0.0, None)
    return take_words(texts, np.argsort(-pagerank(similarity), kind="stable"), words)


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--generator",
        choices=CHOICES,
        default="auto",
        help="the text generator to build memos with (default: auto, the local model when installed, as a user "
        "gets it; none = the extractive summary alone)",
    )
    parser.add_argument("--limit", type=int, help="score only the first N meetings (for quick checks)")
    args = parser.parse_args()
    settings = Settings(generator=args.generator)
    generator = get_generator(settings)
    embedder = Embedder(settings)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    meetings = {row["meeting_id"]: row for row in read_jsonl(args.data / "qmsum" / "meetings.jsonl")}
    methods = ("ours", "lead", "lexrank", "textrank")
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
    rows = []
    seconds: list[float] = []
    provenance: set[str] = set()
    for number, reference in enumerate(read_jsonl(args.data / "qmsum" / "summaries.jsonl")):
        if args.limit is not None and number >= args.limit:
            break
        transcript = qmsum_transcript(meetings[reference["meeting_id"]]).transcript
        insights = extract_insights(transcript, settings)
        started = time.perf_counter()
        memo = build_memo(
            title=reference["meeting_id"],
            transcript=transcript,
            insights=insights,
            generator=generator,
            settings=settings,
        )
        seconds.append(time.perf_counter() - started)
        provenance.add(memo.generated_with)
        texts = [sentence.text for sentence in insights.sentences]
        ours = memo_summary(memo)
        words = len(ours.split())
        candidates = {
            "ours": ours,
            "lead": lead(texts, words),
            "lexrank": lexrank(texts, words),
            "textrank": textrank(texts, embedder.encode(texts), words),
        }
        vectors = embedder.encode([reference["summary"], *candidates.values()])
        for position, (name, candidate) in enumerate(candidates.items(), start=1):
            rouge = scorer.score(reference["summary"], candidate)
            scores[name].append(
                {kind: rouge[kind].fmeasure for kind in ROUGE_TYPES}
                | {"cosine": float(vectors[0] @ vectors[position])}
            )
        rows.append(
            (
                reference["meeting_id"],
                words,
                round(seconds[-1], 1),
                *(scores[name][-1]["rouge2"] for name in methods),
            )
        )
    figures = {
        name: {
            metric: round(float(np.mean([s[metric] for s in values])), 4)
            for metric in (*ROUGE_TYPES, "cosine")
        }
        for name, values in scores.items()
    }
    rows.append(("mean", "", round(float(np.mean(seconds)), 1), *(figures[name]["rouge2"] for name in methods)))
    print_table(
        f"Memo summary vs human summaries on {len(rows) - 1} QMSum meetings (ROUGE-2 F); "
        f"memo written with: {'; '.join(sorted(provenance))}",
        ["meeting", "words", "memo seconds", *methods],
        rows,
    )
    print_table(
        "Means",
        ["method", *ROUGE_TYPES, "MiniLM cosine"],
        [(name, *(figures[name][metric] for metric in (*ROUGE_TYPES, "cosine"))) for name in methods],
    )
    # A --limit run is a quick check: it must not overwrite the figures of the full run.
    report(
        "summary" if args.limit is None else "summary_partial",
        figures | {"generator": generator.name if generator else "none", "memo_seconds": round(float(np.mean(seconds)), 1)},
    )


if __name__ == "__main__":
    main()
