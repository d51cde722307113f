"""Trains the section head on AMI dialogue acts: `python -m eval.train_sections --data DIR`.

AMI's dialogue-act labels are real human judgements of what each utterance does in a meeting,
which is what the memo's sections need. Mapping (also in models/section_head/README.md):
Elicit-* → question, Suggest → idea, Offer → action_item, Assess → reaction, Inform → context,
everything else → other. Acts of fewer than 3 words are left out (mostly "yeah", "okay").

Meetings of the series in HELD_OUT_SERIES are never trained on: eval/sections.py scores them.
A few further training series are set aside as validation meetings to choose the head and tune
its per-class logit offsets; the final head is then refitted on all training meetings.

The head is a linear model averaged with a one-hidden-layer network over the same features
(insightcap.insights.head.HiddenLayer), trained here with torch and stored as plain arrays, and
then averaged with MiniLM whose transformer layers are fine-tuned on the same acts
(eval/train_section_encoder.py, stored beside the head as tuned_layers.npz).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from eval.common import argument_parser
from eval.train_section_encoder import fit_tuned_encoder
from insightcap.config import Settings
from insightcap.insights.features import linguistic_features
from insightcap.insights.head import (
    HiddenLayer,
    SectionHead,
    head_path,
    ngram_vectorizer,
)
from insightcap.insights.nlp import load_nlp
from insightcap.insights.tuned_encoder import TUNED_LAYERS_FILE
from insightcap.themes.embed import Embedder

HELD_OUT_SERIES = ("ES2006", "ES2009", "IS1006", "TS3009", "TS3010")
VALIDATION_SERIES = ("ES2008", "IS1009", "TS3012")
SECTIONS = ("question", "idea", "action_item", "reaction", "context", "other")
MIN_WORDS = 3
MAX_TRAINING_ACTS = 40_000
MAX_NGRAMS = 3_000
SEED = 13
# The hidden layer: chosen by grouped cross-validation over the training series (README).
HIDDEN_UNITS = 128
HIDDEN_EPOCHS = 5
HIDDEN_BATCH = 128
HIDDEN_DROPOUT = 0.3
CACHE_DIR = Path(os.environ.get("INSIGHTCAP_EVAL_CACHE", "/tmp/insightcap_eval_cache"))


def section_of(label: str | None) -> str:
    if not label:
        return "other"
    if label.startswith("Elicit"):
        return "question"
    return {
        "Suggest": "idea",
        "Offer": "action_item",
        "Assess": "reaction",
        "Inform": "context",
    }.get(label, "other")


def series_of(meeting_id: str) -> str:
    return meeting_id[:6]


@dataclass(frozen=True)
class Act:
    meeting_id: str
    speaker: str
    start: float
    text: str
    section: str


def load_acts(data: Path) -> dict[str, list[Act]]:
    """Acts of ≥ MIN_WORDS words per meeting, in time order."""
    meetings: dict[str, list[Act]] = {}
    with (data / "ami" / "dialogue_acts.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if len(record["text"].split()) < MIN_WORDS:
                continue
            meetings.setdefault(record["meeting_id"], []).append(
                Act(
                    record["meeting_id"],
                    record["speaker"],
                    record["start"],
                    record["text"],
                    section_of(record["label"]),
                )
            )
    for acts in meetings.values():
        acts.sort(key=lambda act: act.start)
    return meetings


def _cached_rows(
    name: str, texts: list[str], compute: Callable[[list[str]], np.ndarray]
) -> dict[str, np.ndarray]:
    """compute(texts) row by text, cached in CACHE_DIR/<name>.npz between runs.

    Embedding 60k acts takes minutes on two cores, and parsing them over a minute.
    """
    path = CACHE_DIR / f"{name}.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            known = dict(zip(stored["texts"].tolist(), stored["vectors"]))
    missing = sorted(set(texts) - known.keys())
    if missing:
        print(
            f"computing {name} for {len(missing)} texts (cached in {path})", flush=True
        )
        known.update(zip(missing, compute(missing)))
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        ordered = sorted(known)
        np.savez(
            path,
            texts=np.array(ordered),
            vectors=np.stack([known[text] for text in ordered]),
        )
    return known


@dataclass(frozen=True)
class ActFeatures:
    texts: list[str]
    dense: np.ndarray
    sections: np.ndarray
    meeting_ids: np.ndarray

    def subset(self, rows: np.ndarray) -> ActFeatures:
        return ActFeatures(
            [self.texts[row] for row in rows],
            self.dense[rows],
            self.sections[rows],
            self.meeting_ids[rows],
        )


def act_features(meetings: dict[str, list[Act]], settings: Settings) -> ActFeatures:
    """The product's features (insightcap.insights.features) of every act, meetings in sorted order."""
    texts = sorted({act.text for acts in meetings.values() for act in acts})
    vectors = _cached_rows(
        settings.embedding_model,
        texts,
        lambda batch: Embedder(settings).encode(batch, 128),
    )
    nlp = load_nlp(settings)
    cues = _cached_rows(
        f"cues-{settings.nlp_model}",
        texts,
        lambda batch: np.stack(
            [linguistic_features(doc[:]) for doc in nlp.pipe(batch, batch_size=512)]
        ),
    )
    ordered = [act for _, acts in sorted(meetings.items()) for act in acts]
    dense = np.hstack(
        [
            np.stack([vectors[act.text] for act in ordered]),
            np.stack([cues[act.text] for act in ordered]),
        ]
    ).astype(np.float32)
    return ActFeatures(
        texts=[act.text for act in ordered],
        dense=dense,
        sections=np.array([act.section for act in ordered]),
        meeting_ids=np.array([act.meeting_id for act in ordered]),
    )


def training_rows(
    sections: np.ndarray, ids: np.ndarray, limit: int = MAX_TRAINING_ACTS
) -> np.ndarray:
    """Indices of training acts: never a held-out series; the largest class subsampled to `limit`."""
    allowed = ~np.isin([series_of(meeting) for meeting in ids], HELD_OUT_SERIES)
    chosen = np.flatnonzero(allowed)
    if len(chosen) <= limit:
        return chosen
    counts = {section: int(np.sum(sections[chosen] == section)) for section in SECTIONS}
    largest = max(counts, key=lambda section: counts[section])
    keep_largest = counts[largest] - (len(chosen) - limit)
    rng = np.random.default_rng(SEED)
    largest_rows = chosen[sections[chosen] == largest]
    kept = rng.choice(largest_rows, size=max(keep_largest, 0), replace=False)
    return np.sort(np.concatenate([chosen[sections[chosen] != largest], kept]))


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights ∝ 1/sqrt(class frequency): rare classes count more, without swamping."""
    counts = {section: np.sum(labels == section) for section in SECTIONS}
    weights = np.array([1.0 / np.sqrt(counts[label]) for label in labels])
    return weights / weights.mean()


def four_way(sections: np.ndarray) -> np.ndarray:
    """The evaluation's classes: question, idea, action_item (commitment); the rest is "other"."""
    return np.where(
        np.isin(sections, ["question", "idea", "action_item"]), sections, "other"
    )


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(f1_score(four_way(truth), four_way(predicted), average="macro"))


def fit_hidden_layer(
    design: sparse.csr_matrix, labels: np.ndarray, sample_weight: np.ndarray
) -> HiddenLayer:
    """A ReLU layer of HIDDEN_UNITS and a softmax, trained with AdamW on the weighted loss."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    first = torch.nn.Linear(design.shape[1], HIDDEN_UNITS)
    second = torch.nn.Linear(HIDDEN_UNITS, len(SECTIONS))
    dropout = torch.nn.Dropout(HIDDEN_DROPOUT)
    optimiser = torch.optim.AdamW(
        [*first.parameters(), *second.parameters()], lr=1e-3, weight_decay=1e-2
    )
    targets = torch.tensor([SECTIONS.index(label) for label in labels])
    weights = torch.tensor(sample_weight, dtype=torch.float32)
    for _ in range(HIDDEN_EPOCHS):
        order = rng.permutation(design.shape[0])
        for start in range(0, len(order), HIDDEN_BATCH):
            batch = order[start : start + HIDDEN_BATCH]
            rows = design[batch].tocoo()
            inputs = torch.sparse_coo_tensor(
                np.vstack([rows.row, rows.col]),
                rows.data.astype(np.float32),
                rows.shape,
                check_invariants=True,
            )
            units = torch.relu(torch.sparse.mm(inputs, first.weight.T) + first.bias)
            loss = torch.nn.functional.cross_entropy(
                second(dropout(units)), targets[batch], reduction="none"
            )
            optimiser.zero_grad()
            (loss * weights[batch]).mean().backward()
            optimiser.step()
    with torch.no_grad():
        return HiddenLayer(
            weights=first.weight.T.numpy().copy(),
            bias=first.bias.numpy().copy(),
            output_weights=second.weight.T.numpy().copy(),
            output_bias=second.bias.numpy().copy(),
        )


def fit_head(data: ActFeatures, regularisation: float = 1.0) -> SectionHead:
    vectorizer = ngram_vectorizer(max_features=MAX_NGRAMS).fit(data.texts)
    mean = data.dense.mean(axis=0)
    scale = data.dense.std(axis=0) + 1e-6
    untrained = SectionHead(
        classes=SECTIONS,
        vocabulary=tuple(vectorizer.get_feature_names_out()),
        idf=vectorizer.idf_,
        dense_mean=mean,
        dense_scale=scale,
        weights=np.zeros(0),
        bias=np.zeros(0),
        logit_offsets=np.zeros(len(SECTIONS)),
    )
    design = untrained.design_matrix(data.texts, data.dense)
    sample_weight = class_weights(data.sections)
    model = LogisticRegression(max_iter=500, C=regularisation)
    model.fit(design, data.sections, sample_weight=sample_weight)
    order = [list(model.classes_).index(section) for section in SECTIONS]
    return replace(
        untrained,
        weights=model.coef_[order].T.copy(),
        bias=model.intercept_[order].copy(),
        hidden=fit_hidden_layer(design, data.sections, sample_weight),
    )


def tune_offsets(head: SectionHead, data: ActFeatures) -> np.ndarray:
    """Per-class logit offsets maximising macro-F1 on `data` (coordinate ascent over a grid).

    Class weights already favour rare classes; the offsets correct how far, per class.
    """
    logits = head.log_probabilities(data.texts, data.dense)
    classes = np.array(head.classes)
    offsets = np.zeros(len(classes))
    for _ in range(2):
        for section in ("question", "idea", "action_item"):
            position = list(classes).index(section)
            best_score, best_value = -1.0, 0.0
            for value in np.arange(-2.0, 2.01, 0.25):
                trial = offsets.copy()
                trial[position] = value
                score = macro_f1(
                    data.sections, classes[(logits + trial).argmax(axis=1)]
                )
                if score > best_score:
                    best_score, best_value = score, value
            offsets[position] = best_value
    return offsets


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=head_path(),
        help="where to write the head (%(default)s)",
    )
    args = parser.parse_args()
    settings = Settings()
    source = args.data / "ami" / "dialogue_acts.jsonl"
    data = act_features(load_acts(args.data), settings)
    rows = training_rows(data.sections, data.meeting_ids)
    validation_mask = np.isin(
        [series_of(meeting) for meeting in data.meeting_ids[rows]], VALIDATION_SERIES
    )
    fit_rows, validation_rows = rows[~validation_mask], rows[validation_mask]

    started = time.time()
    fit = data.subset(fit_rows)
    # The tuned encoder learns from the same meetings as the draft head and, unlike the head, is
    # not refitted: two epochs cost 10 minutes, and its validation predictions stay honest.
    tuned = fit_tuned_encoder(
        fit.texts, fit.sections, class_weights(fit.sections), SECTIONS, settings
    )
    draft = replace(fit_head(fit), tuned=tuned)
    validation = data.subset(validation_rows)
    offsets = tune_offsets(draft, validation)
    scored = replace(draft, logit_offsets=offsets)
    validation_f1 = macro_f1(
        validation.sections,
        np.array(SECTIONS)[
            scored.probabilities(validation.texts, validation.dense).argmax(axis=1)
        ],
    )
    print(
        f"validation macro-F1 {validation_f1:.3f} with offsets {offsets.tolist()}",
        flush=True,
    )

    training = data.subset(rows)
    final = replace(fit_head(training), tuned=tuned)
    meta = {
        "trained_on": str(source.name),
        "training_data_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "held_out_series": HELD_OUT_SERIES,
        "validation_series": VALIDATION_SERIES,
        "training_acts": len(rows),
        "class_counts": {
            section: int(np.sum(training.sections == section)) for section in SECTIONS
        },
        "min_words": MIN_WORDS,
        "max_ngrams": MAX_NGRAMS,
        "embedding_model": settings.embedding_model,
        "nlp_model": settings.nlp_model,
        "seed": SEED,
        "hidden_units": HIDDEN_UNITS,
        "hidden_epochs": HIDDEN_EPOCHS,
        "hidden_dropout": HIDDEN_DROPOUT,
        "validation_macro_f1": round(validation_f1, 4),
        "tuned_layers": TUNED_LAYERS_FILE,
    }
    tuned_path = args.out.parent / TUNED_LAYERS_FILE
    tuned.save(tuned_path)
    replace(final, logit_offsets=offsets, meta=meta).save(args.out)
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes) and {tuned_path} "
        f"({tuned_path.stat().st_size} bytes) in {time.time() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
