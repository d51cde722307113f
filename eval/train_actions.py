"""Trains the commitment detector on AMI: `python -m eval.train_actions --data DIR`.

The section head learns commitments from AMI's "Offer" dialogue acts, but the human action items
of AMI's abstractive summaries are mostly supported by other acts: the project manager handing
out work ("as the industrial designer, you're gonna be working on…", labelled Inform) or
proposing it (Suggest). AMI links every action sentence to the dialogue acts it came from
(ami/summlinks.jsonl), which is exactly the label this detector needs: an act is a commitment
when an annotator linked it to an action item.

Features are the section head's (word 1–3-grams, MiniLM embedding, syntax cues;
insightcap.insights.features) plus where in the session the act was said, since work is
mostly handed out at the close of a meeting. Only meetings whose annotator linked action items
are used (elsewhere "not linked" does not mean "not a commitment"). The held-out series of
eval/train_sections.py are never trained on; its validation series choose the regularisation
and the decision threshold, and the final detector is refitted on training + validation.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support

from eval.common import argument_parser
from eval.pipeline_inputs import read_jsonl
from eval.train_sections import (
    HELD_OUT_SERIES,
    VALIDATION_SERIES,
    Act,
    ActFeatures,
    act_features,
    load_acts,
    series_of,
)
from insightcap.config import Settings
from insightcap.insights.actions import COMMITMENT, NOT_COMMITMENT, action_head_path
from insightcap.insights.head import SectionHead, ngram_vectorizer

CLASSES = (COMMITMENT, NOT_COMMITMENT)
MAX_NGRAMS = 3_000
REGULARISATION_GRID = (0.1, 0.3, 1.0)
THRESHOLD_GRID = np.arange(0.3, 0.96, 0.05)


def linked_acts(data: Path) -> set[tuple[str, float, str]]:
    """(meeting, start, text) of every dialogue act an annotator linked to an action item."""
    return {
        (row["meeting_id"], act["start"], act["text"])
        for row in read_jsonl(data / "ami" / "summlinks.jsonl")
        if row["section"] == "actions"
        for act in row["dialogue_acts"]
    }


def session_position(meetings: dict[str, list[Act]]) -> dict[tuple[str, float], float]:
    """How far into its meeting each act starts, 0 to 1 (the product uses the same measure)."""
    return {
        (meeting, act.start): act.start / max(acts[-1].start, 1e-6)
        for meeting, acts in meetings.items()
        for act in acts
    }


def labelled_features(data: Path, settings: Settings) -> ActFeatures:
    linked = linked_acts(data)
    meetings = {
        meeting: acts
        for meeting, acts in load_acts(data).items()
        if any(key[0] == meeting for key in linked)
    }
    features = act_features(meetings, settings)
    ordered = [act for _, acts in sorted(meetings.items()) for act in acts]
    position = session_position(meetings)
    return ActFeatures(
        texts=features.texts,
        dense=np.hstack(
            [
                features.dense,
                np.array([[position[(act.meeting_id, act.start)]] for act in ordered], dtype=np.float32),
            ]
        ),
        sections=np.array(
            [
                COMMITMENT if (act.meeting_id, act.start, act.text) in linked else NOT_COMMITMENT
                for act in ordered
            ]
        ),
        meeting_ids=features.meeting_ids,
    )


def fit_detector(data: ActFeatures, regularisation: float) -> SectionHead:
    vectorizer = ngram_vectorizer(max_features=MAX_NGRAMS).fit(data.texts)
    untrained = SectionHead(
        classes=CLASSES,
        vocabulary=tuple(vectorizer.get_feature_names_out()),
        idf=vectorizer.idf_,
        dense_mean=data.dense.mean(axis=0),
        dense_scale=data.dense.std(axis=0) + 1e-6,
        weights=np.zeros(0),
        bias=np.zeros(0),
        logit_offsets=np.zeros(len(CLASSES)),
    )
    # Commitments are ~1% of acts: balanced weights make the detector look for them at all.
    model = LogisticRegression(max_iter=1000, C=regularisation, class_weight="balanced")
    model.fit(untrained.design_matrix(data.texts, data.dense), data.sections)
    # Two classes: sklearn keeps one weight column, the log-odds of classes_[1]. The head wants a
    # logit per class; ±half the log-odds give the same probabilities.
    sign = {name: (1.0 if name == model.classes_[1] else -1.0) / 2 for name in CLASSES}
    return replace(
        untrained,
        weights=np.stack([sign[name] * model.coef_[0] for name in CLASSES], axis=1),
        bias=np.array([sign[name] * model.intercept_[0] for name in CLASSES]),
    )


def commitment_probability(head: SectionHead, data: ActFeatures) -> np.ndarray:
    return head.probabilities(data.texts, data.dense)[:, CLASSES.index(COMMITMENT)]


def scores(truth: np.ndarray, probability: np.ndarray, threshold: float) -> tuple[float, float, float]:
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth == COMMITMENT, probability >= threshold, average="binary", zero_division=0
    )
    return float(precision), float(recall), float(f1)


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=action_head_path(), help="where to write the detector (%(default)s)")
    args = parser.parse_args()
    settings = Settings()
    data = labelled_features(args.data, settings)
    series = np.array([series_of(meeting) for meeting in data.meeting_ids])
    trainable = ~np.isin(series, HELD_OUT_SERIES)
    validation_mask = np.isin(series, VALIDATION_SERIES)
    fit = data.subset(np.flatnonzero(trainable & ~validation_mask))
    validation = data.subset(np.flatnonzero(validation_mask))
    held_out = data.subset(np.flatnonzero(~trainable))
    started = time.time()

    best = (-1.0, 0.0, 0.0)
    for regularisation in REGULARISATION_GRID:
        probability = commitment_probability(fit_detector(fit, regularisation), validation)
        for threshold in THRESHOLD_GRID:
            f1 = scores(validation.sections, probability, threshold)[2]
            print(f"C={regularisation} threshold={threshold:.2f} validation F1 {f1:.3f}", flush=True)
            if f1 > best[0]:
                best = (f1, regularisation, float(threshold))
    validation_f1, regularisation, threshold = best

    training = data.subset(np.flatnonzero(trainable))
    final = fit_detector(training, regularisation)
    held_out_scores = scores(held_out.sections, commitment_probability(final, held_out), threshold)
    print(
        f"chose C={regularisation}, threshold {threshold:.2f} (validation F1 {validation_f1:.3f}); "
        f"held-out precision/recall/F1 {held_out_scores[0]:.3f}/{held_out_scores[1]:.3f}/{held_out_scores[2]:.3f}"
    )
    source = args.data / "ami" / "summlinks.jsonl"
    meta = {
        "trained_on": ["dialogue_acts.jsonl", source.name],
        "training_data_sha256": {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in (args.data / "ami" / "dialogue_acts.jsonl", source)
        },
        "held_out_series": HELD_OUT_SERIES,
        "validation_series": VALIDATION_SERIES,
        "training_acts": len(training.texts),
        "commitments": int(np.sum(training.sections == COMMITMENT)),
        "regularisation": regularisation,
        "threshold": round(threshold, 2),
        "validation_f1": round(validation_f1, 4),
        "held_out": dict(zip(("precision", "recall", "f1"), (round(value, 4) for value in held_out_scores))),
        "embedding_model": settings.embedding_model,
        "nlp_model": settings.nlp_model,
    }
    final = replace(final, meta=meta)
    final.save(args.out)
    print(json.dumps(meta["held_out"]))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
