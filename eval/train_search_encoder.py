"""Fine-tunes MiniLM for search: QMSum questions → the passages that answer them (search/encoder.py).

Learns from QMSum's train_extra meetings only (never the eval meetings). Their programs (an AMI
team, an ICSI group, a committee; eval/retrieval.py) are split by a hash of the name: one in five
is held out for validation, so no program is on both sides.
- A query's positives are the product's own passages (search/passages.py) of its meeting that
  overlap a relevant span; its hard negatives are the packaged model's top passages over all
  meetings that are not positives ("what did Marketing say about the buttons?" asked of another
  team's meeting).
- Loss: multiple-negatives ranking (softmax over the batch's passages, each query's hard negative
  included), two positives per query drawn anew each epoch, AdamW with warm-up and linear decay.
  All six transformer layers learn; the word-piece embeddings stay frozen, so the artefact holds
  less than half of the model (tuned_layers.py).
- Validation: semantic recall@10 and MRR over the validation programs' meetings, packaged model
  and tuned encoder in the same run, stored in the artefact's meta.

    python -m eval.train_search_encoder --data ../shared/eval   # ~45 minutes on two cores
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eval.common import argument_parser, print_table
from eval.retrieval import ImportedMeeting, meeting_transcript, program_of, read_jsonl
from insightcap.config import Settings
from insightcap.search.encoder import SearchLayers, search_layers_path
from insightcap.search.passages import Passage, build_passages
from insightcap.themes.embed import Embedder, sentence_model

EPOCHS = 2
BATCH = 16
LEARNING_RATE = 2e-5
WARMUP_SHARE = 0.1
# The loss's inverse temperature, as sentence-transformers' MultipleNegativesRankingLoss.
SCALE = 20.0
POSITIVES_PER_QUERY = 2
# Hard negatives: the first NEGATIVES non-relevant passages among the packaged model's top NEGATIVE_POOL.
NEGATIVE_POOL, NEGATIVES = 30, 10
VALIDATION_SHARE = 5  # one program in five


@dataclass(frozen=True)
class Corpus:
    """Every passage of the train_extra meetings, and each query's positives and hard negatives."""

    passages: list[Passage]
    passage_meetings: np.ndarray
    programs: dict[str, str]  # meeting → program
    queries: list[dict]
    positives: list[list[int]]


def is_validation(program: str) -> bool:
    return int(hashlib.md5(program.encode()).hexdigest(), 16) % VALIDATION_SHARE == 0


def load_corpus(qmsum: Path) -> Corpus:
    passages, meetings_of, programs = [], [], {}
    imported = {}
    for meeting in read_jsonl(qmsum / "meetings.jsonl"):
        transcript = meeting_transcript(meeting)
        meeting_id = meeting["meeting_id"]
        programs[meeting_id] = program_of(meeting)
        imported[meeting_id] = ImportedMeeting(meeting_id, programs[meeting_id], [s.start for s in transcript.segments])
        for passage in build_passages(transcript):
            passages.append(passage)
            meetings_of.append(meeting_id)
    passage_meetings = np.array(meetings_of)
    queries = [query for query in read_jsonl(qmsum / "queries.jsonl") if query["type"] == "specific"]
    positives = []
    for query in queries:
        meeting = imported[query["meeting_id"]]
        found = []
        for index in np.flatnonzero(passage_meetings == meeting.meeting_id):
            first, last = meeting.turns_of(passages[index].start, passages[index].end)
            if any(first <= end and start <= last for start, end in query["relevant_spans"]):
                found.append(int(index))
        positives.append(found)
    return Corpus(passages, passage_meetings, programs, queries, positives)


def success_and_mrr(queries: np.ndarray, passages: np.ndarray, positives: list[list[int]]) -> tuple[float, float]:
    """recall@10 (success: a positive in the top 10) and MRR of the cosine ranking."""
    found, reciprocal = 0, 0.0
    for vector, relevant in zip(queries, positives):
        top = np.argsort(-(passages @ vector), kind="stable")[:10]
        ranks = [rank for rank, index in enumerate(top, start=1) if index in set(relevant)]
        if ranks:
            found += 1
            reciprocal += 1 / ranks[0]
    return found / len(positives), reciprocal / len(positives)


def validate(corpus: Corpus, model, query_ids: list[int]) -> tuple[float, float]:
    """Semantic search over the validation programs' meetings only."""
    meetings = {corpus.programs[corpus.queries[i]["meeting_id"]] for i in query_ids}
    selected = np.flatnonzero([corpus.programs[meeting] in meetings for meeting in corpus.passage_meetings])
    renumber = {int(index): position for position, index in enumerate(selected)}
    passages = model.encode([corpus.passages[i].text for i in selected], batch_size=64, normalize_embeddings=True)
    queries = model.encode([corpus.queries[i]["query"] for i in query_ids], normalize_embeddings=True)
    positives = [[renumber[p] for p in corpus.positives[i]] for i in query_ids]
    return success_and_mrr(queries, passages, positives)


def hard_negatives(corpus: Corpus, embedder: Embedder, query_ids: list[int]) -> dict[int, list[int]]:
    passages = embedder.encode([passage.text for passage in corpus.passages])
    queries = embedder.encode([corpus.queries[i]["query"] for i in query_ids])
    negatives = {}
    for query_id, vector in zip(query_ids, queries):
        top = np.argsort(-(passages @ vector), kind="stable")[:NEGATIVE_POOL]
        relevant = set(corpus.positives[query_id])
        negatives[query_id] = [int(index) for index in top if index not in relevant][:NEGATIVES]
    return negatives


def epoch_pairs(corpus: Corpus, negatives: dict[int, list[int]], rng: random.Random) -> list[tuple[int, int, int]]:
    """(query, positive, hard negative) triples, POSITIVES_PER_QUERY positives per query, shuffled."""
    pairs = []
    for query_id, pool in negatives.items():
        for positive in rng.sample(corpus.positives[query_id], min(POSITIVES_PER_QUERY, len(corpus.positives[query_id]))):
            pairs.append((query_id, positive, rng.choice(pool)))
    rng.shuffle(pairs)
    return pairs


def fine_tune(corpus: Corpus, negatives: dict[int, list[int]], settings: Settings):
    """A copy of the packaged model with its transformer layers trained on the triples."""
    model = copy.deepcopy(sentence_model(settings.embedding_model, settings.model_cache_dir))
    encoder = model[0].auto_model
    encoder.requires_grad_(False)
    encoder.encoder.requires_grad_(True)
    optimiser = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=LEARNING_RATE, weight_decay=0.01)
    per_epoch = math.ceil(sum(min(POSITIVES_PER_QUERY, len(corpus.positives[q])) for q in negatives) / BATCH)
    steps = EPOCHS * per_epoch
    warmup = WARMUP_SHARE * steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (steps - step) / steps)
    )
    # Seeded after loading, which may draw random numbers, so that runs repeat exactly.
    torch.manual_seed(0)
    rng = random.Random(0)
    started = time.time()
    model.train()

    def embedded(texts: list[str]) -> torch.Tensor:
        features = model.preprocess(texts)
        return model(features)["sentence_embedding"]  # mean-pooled and normalised, as in search

    for epoch in range(EPOCHS):
        pairs = epoch_pairs(corpus, negatives, rng)
        for start in range(0, len(pairs), BATCH):
            batch = pairs[start : start + BATCH]
            queries = embedded([corpus.queries[q]["query"] for q, _, _ in batch])
            passages = embedded([corpus.passages[p].text for _, p, _ in batch] + [corpus.passages[n].text for _, _, n in batch])
            logits = SCALE * queries @ passages.T
            # A batch may hold two positives of one query: neither is the other's negative.
            same_query = torch.tensor([
                [a != b and batch[a][0] == batch[b % len(batch)][0] and b < len(batch) for b in range(2 * len(batch))]
                for a in range(len(batch))
            ])
            logits = logits.masked_fill(same_query, -1e4)
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        print(f"search encoder: epoch {epoch + 1}/{EPOCHS} in {time.time() - started:.0f} s", flush=True)
    model.eval()
    return model


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=search_layers_path(), help="where to write the tuned layers")
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = Settings()
    corpus = load_corpus(args.data / "qmsum" / "train_extra")
    programs = [corpus.programs[query["meeting_id"]] for query in corpus.queries]
    training = [i for i, program in enumerate(programs) if not is_validation(program) and corpus.positives[i]]
    validation = [i for i, program in enumerate(programs) if is_validation(program)]
    print(f"{len(corpus.passages)} passages; {len(training)} training and {len(validation)} validation queries", flush=True)
    base = sentence_model(settings.embedding_model, settings.model_cache_dir)
    packaged = validate(corpus, base, validation)
    negatives = hard_negatives(corpus, Embedder(settings), training)
    model = fine_tune(corpus, negatives, settings)
    tuned = validate(corpus, model, validation)
    print_table("Semantic search over the validation programs", ["encoder", "recall@10", "MRR"],
                [["packaged MiniLM", *packaged], ["tuned", *tuned]])
    encoder = model[0].auto_model
    state = encoder.state_dict()
    layers = {name: state[name].detach().numpy().copy() for name, parameter in encoder.named_parameters() if parameter.requires_grad}
    version = hashlib.sha256(b"".join(value.astype(np.float16).tobytes() for value in layers.values())).hexdigest()[:12]
    SearchLayers(settings.embedding_model, layers, {
        "version": version, "epochs": EPOCHS, "batch": BATCH, "learning_rate": LEARNING_RATE, "scale": SCALE,
        "positives_per_query": POSITIVES_PER_QUERY, "training_queries": len(training), "validation_queries": len(validation),
        "validation": {"packaged": [round(v, 4) for v in packaged], "tuned": [round(v, 4) for v in tuned]},
    }).save(args.output)
    print(f"wrote {args.output} (version {version})")


if __name__ == "__main__":
    main()
