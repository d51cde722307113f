"""Section classification on real meetings: `python -m eval.sections --data DIR`.

Scores the trained head (models/section_head/head.npz) on AMI dialogue acts of ≥ 3 words from
meetings it never saw: the held-out series when DIR is the development set, or every meeting of
an unseen DIR. Four classes, as the task defines them: question (Elicit-*), idea (Suggest),
commitment (Offer; the product's action_item) and other (reaction and context included). Beside
it, in the same run: always predicting the majority class, and a plain logistic regression on
MiniLM embeddings trained on the head's training split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support

from eval.common import DEFAULT_DATA, argument_parser, print_table, report
from eval.train_sections import (
    HELD_OUT_SERIES,
    Act,
    act_features,
    four_way,
    load_acts,
    series_of,
    training_rows,
)
from insightcap.config import Settings
from insightcap.insights.features import LINGUISTIC_FEATURES
from insightcap.insights.head import load_head

EVAL_CLASSES = ("question", "idea", "action_item", "other")
DISPLAY = {"action_item": "commitment (action_item)"}


def evaluation_meetings(data: Path) -> dict[str, list[Act]]:
    meetings = load_acts(data)
    held_out = {
        meeting: acts
        for meeting, acts in meetings.items()
        if series_of(meeting) in HELD_OUT_SERIES
    }
    return held_out or meetings


def per_class(truth: np.ndarray, predicted: np.ndarray) -> dict[str, dict[str, float]]:
    precision, recall, f1, support = precision_recall_fscore_support(
        four_way(truth), four_way(predicted), labels=list(EVAL_CLASSES), zero_division=0
    )
    return {
        name: {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for name, p, r, f, s in zip(EVAL_CLASSES, precision, recall, f1, support)
    }


def macro(scores: dict[str, dict[str, float]]) -> float:
    return float(np.mean([scores[name]["f1"] for name in EVAL_CLASSES]))


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--train-data",
        type=Path,
        default=DEFAULT_DATA,
        help="where the baselines' training acts come from",
    )
    args = parser.parse_args()
    settings = Settings()
    test = act_features(evaluation_meetings(args.data), settings)
    train_all = act_features(load_acts(args.train_data), settings)
    train = train_all.subset(training_rows(train_all.sections, train_all.meeting_ids))
    # Never score a meeting the baselines (or the head, with the same split) were trained on.
    assert not set(train.meeting_ids) & set(test.meeting_ids), (
        "evaluation meetings overlap training meetings"
    )

    head = load_head()
    head_predictions = np.array(head.classes)[
        head.probabilities(test.texts, test.dense).argmax(axis=1)
    ]
    embedding_columns = slice(0, test.dense.shape[1] - len(LINGUISTIC_FEATURES))
    logreg = LogisticRegression(max_iter=500).fit(
        train.dense[:, embedding_columns], train.sections
    )
    logreg_predictions = logreg.predict(test.dense[:, embedding_columns])
    labels, counts = np.unique(four_way(train.sections), return_counts=True)
    majority_predictions = np.full(len(test.sections), labels[counts.argmax()])

    scores = {
        "head": per_class(test.sections, head_predictions),
        "logreg": per_class(test.sections, logreg_predictions),
        "majority": per_class(test.sections, majority_predictions),
    }
    rows = [
        (
            DISPLAY.get(name, name),
            scores["head"][name]["precision"],
            scores["head"][name]["recall"],
            scores["head"][name]["f1"],
            scores["logreg"][name]["f1"],
            scores["majority"][name]["f1"],
            scores["head"][name]["support"],
        )
        for name in EVAL_CLASSES
    ]
    rows.append(
        (
            "macro",
            "",
            "",
            macro(scores["head"]),
            macro(scores["logreg"]),
            macro(scores["majority"]),
            len(test.texts),
        )
    )
    print_table(
        f"Sections on {len(set(test.meeting_ids))} unseen meetings ({len(test.texts)} acts of ≥ 3 words)",
        ["section", "precision", "recall", "F1", "logreg F1", "majority F1", "acts"],
        rows,
    )
    report(
        "sections",
        {
            "macro_f1": round(macro(scores["head"]), 4),
            "majority_macro_f1": round(macro(scores["majority"]), 4),
            "logreg_macro_f1": round(macro(scores["logreg"]), 4),
            "per_section": {
                name: {k: round(v, 4) for k, v in values.items()}
                for name, values in scores["head"].items()
            },
            "meetings": sorted(set(test.meeting_ids.tolist())),
            "acts": len(test.texts),
        },
    )


if __name__ == "__main__":
    main()
