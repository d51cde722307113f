"""Topic segmentation on real meetings: `python -m eval.topics --data DIR`.

For every QMSum meeting in DIR/qmsum/meetings.jsonl the product splits the transcript into
sentences, embeds them and segments topics exactly as the structure stage does; the topics are
mapped back to QMSum turns and scored with Pk and WindowDiff against the gold topics
(DIR/qmsum/topics.jsonl), with k half the mean gold segment length of that meeting (the usual
choice). Lower is better. Beside it, in the same run and on the same sentences: TextTiling on
MiniLM sentence embeddings (Hearst's mean − σ/2 depth cut-off), an even split into the gold number
of segments, and no boundary at all (which any useful segmenter must beat).

With `--join-series` the sessions are long ones instead: the meetings of each AMI series in the
file (ES2006a–d, …) joined in order into one session of 80 minutes to three hours, each meeting's
gold topics kept and each join a gold topic start — sessions longer than most the topic head was
trained on. Figures go to eval/results/topics_joined_series.json, with each session's topic counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.common import argument_parser, print_table, report
from eval.pipeline_inputs import (
    AMI_MEETING,
    fill_forward,
    gold_turn_segments,
    qmsum_transcript,
    read_jsonl,
    run_numbers,
    sentences_and_embeddings,
)
from insightcap.config import Settings
from insightcap.insights.topic_head import depth_scores, moving_average
from insightcap.insights.topics import segment_topics

# TextTiling baseline: Hearst's similarity curve over the same sentence embeddings (sentences
# compared on either side of a gap, moving-average width) and her own choice of boundaries.
TEXTTILING_WINDOW = 20
TEXTTILING_SMOOTHING = 11


def window_size(reference: np.ndarray) -> int:
    """k: half the mean reference segment length (at least 1)."""
    segments = int(reference.max()) + 1 if len(reference) else 1
    return max(1, round(len(reference) / segments / 2))


def pk(reference: np.ndarray, hypothesis: np.ndarray, k: int) -> float:
    """Beeferman's Pk: how often two units k apart are wrongly judged in the same / different segments."""
    if len(reference) <= k:
        return 0.0
    same_reference = reference[:-k] == reference[k:]
    same_hypothesis = hypothesis[:-k] == hypothesis[k:]
    return float(np.mean(same_reference != same_hypothesis))


def windowdiff(reference: np.ndarray, hypothesis: np.ndarray, k: int) -> float:
    """Pevzner & Hearst's WindowDiff: how often a window of k units holds a different number of boundaries."""
    if len(reference) <= k:
        return 0.0
    reference_boundaries = np.concatenate([[0], np.cumsum(np.diff(reference) != 0)])
    hypothesis_boundaries = np.concatenate([[0], np.cumsum(np.diff(hypothesis) != 0)])
    in_reference = reference_boundaries[k:] - reference_boundaries[:-k]
    in_hypothesis = hypothesis_boundaries[k:] - hypothesis_boundaries[:-k]
    return float(np.mean(in_reference != in_hypothesis))


def turn_segments(starts: Sequence[int], turn_of_sentence: Sequence[int], n_turns: int) -> np.ndarray:
    """Sentence-level topic starts → a segment number per turn.

    A turn belongs to the topic of its first sentence; a turn with no sentence of its own
    ("Okay.") stays in the topic of the turn before it.
    """
    topic_of_sentence = np.zeros(len(turn_of_sentence), dtype=int)
    for start in starts:
        topic_of_sentence[start:] += 1
    label = np.full(n_turns, -1)
    for sentence in range(len(turn_of_sentence) - 1, -1, -1):
        label[turn_of_sentence[sentence]] = topic_of_sentence[sentence]
    return run_numbers(fill_forward(label, first=0))


def texttiling_starts(embeddings: np.ndarray) -> list[int]:
    """Hearst's TextTiling on sentence embeddings: boundaries at local minima whose depth exceeds mean − σ/2."""
    count = len(embeddings)
    if count < 2 * TEXTTILING_WINDOW:
        return []
    similarities = []
    for gap in range(1, count):
        left = embeddings[max(0, gap - TEXTTILING_WINDOW) : gap].mean(axis=0)
        right = embeddings[gap : gap + TEXTTILING_WINDOW].mean(axis=0)
        similarities.append(float(left @ right / (np.linalg.norm(left) * np.linalg.norm(right))))
    smooth = moving_average(np.array(similarities), TEXTTILING_SMOOTHING)
    depths_array = depth_scores(smooth)
    cutoff = depths_array.mean() - depths_array.std() / 2
    return [
        position + 1
        for position in range(1, len(smooth) - 1)
        if smooth[position] <= smooth[position - 1]
        and smooth[position] <= smooth[position + 1]
        and depths_array[position] > cutoff
    ]


def even_segments(n_turns: int, count: int) -> np.ndarray:
    return np.minimum((np.arange(n_turns) * count) // max(n_turns, 1), count - 1)


def score(reference: np.ndarray, hypothesis: np.ndarray) -> tuple[float, float]:
    k = window_size(reference)
    return pk(reference, hypothesis, k), windowdiff(reference, hypothesis, k)


def join_series(
    meetings: list[dict[str, Any]], gold_topics: dict[str, list[dict[str, Any]]]
) -> list[tuple[dict[str, Any], np.ndarray]]:
    """Each AMI series' meetings as one session, in order: their turns renumbered one after the
    other, and a gold segment number per turn in which each meeting's topics stay topics and each
    join starts one."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for meeting in meetings:
        if match := AMI_MEETING.match(meeting["meeting_id"]):
            series[match["series"]].append(meeting)
    sessions = []
    for name, parts in sorted(series.items()):
        parts.sort(key=lambda meeting: meeting["meeting_id"])
        turns: list[dict[str, Any]] = []
        references: list[np.ndarray] = []
        for part in parts:
            turns += [{**turn, "idx": len(turns) + position} for position, turn in enumerate(part["turns"])]
            reference = gold_turn_segments(gold_topics[part["meeting_id"]], len(part["turns"]))
            references.append(reference + (int(references[-1][-1]) + 1 if references else 0))
        joined_id = f"{name}{parts[0]['meeting_id'][-1]}-{parts[-1]['meeting_id'][-1]}"
        sessions.append(({"meeting_id": joined_id, "turns": turns}, np.concatenate(references)))
    return sessions


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--join-series",
        action="store_true",
        help="score long sessions: each AMI series' meetings (ES2006a-d, ...) joined into one",
    )
    args = parser.parse_args()
    settings = Settings()
    gold_topics = {
        row["meeting_id"]: row["topics"] for row in read_jsonl(args.data / "qmsum" / "topics.jsonl")
    }
    meetings = [
        meeting
        for meeting in read_jsonl(args.data / "qmsum" / "meetings.jsonl")
        if meeting["meeting_id"] in gold_topics
    ]
    if args.join_series:
        sessions = join_series(meetings, gold_topics)
    else:
        sessions = [
            (meeting, gold_turn_segments(gold_topics[meeting["meeting_id"]], len(meeting["turns"])))
            for meeting in meetings
        ]
    methods: dict[str, list[tuple[float, float]]] = {
        "ours": [],
        "texttiling": [],
        "even": [],
        "none": [],
    }
    counts: dict[str, list[int]] = {"ours": [], "texttiling": [], "gold": []}
    rows = []
    details: dict[str, dict[str, Any]] = {}
    for meeting, reference in sessions:
        inputs = qmsum_transcript(meeting)
        sentences, embeddings = sentences_and_embeddings(inputs.transcript, settings)
        turn_of_sentence = [inputs.turn_of_segment[parsed.sentence.segment_index] for parsed in sentences]
        topics = segment_topics(sentences, embeddings)
        hypotheses = {
            "ours": turn_segments(
                [topic.sentence_indices[0] for topic in topics[1:]],
                turn_of_sentence,
                inputs.n_turns,
            ),
            "texttiling": turn_segments(texttiling_starts(embeddings), turn_of_sentence, inputs.n_turns),
            "even": even_segments(inputs.n_turns, int(reference.max()) + 1),
            "none": np.zeros(inputs.n_turns, dtype=int),
        }
        for name, hypothesis in hypotheses.items():
            methods[name].append(score(reference, hypothesis))
        counts["ours"].append(int(hypotheses["ours"].max()) + 1)
        counts["texttiling"].append(int(hypotheses["texttiling"].max()) + 1)
        counts["gold"].append(int(reference.max()) + 1)
        details[meeting["meeting_id"]] = {
            "minutes": round(inputs.transcript.duration / 60.0, 1),
            "topics": {name: values[-1] for name, values in counts.items()},
            "ours": dict(zip(("pk", "windowdiff"), (round(v, 4) for v in methods["ours"][-1]))),
        }
        rows.append(
            (
                meeting["meeting_id"],
                counts["gold"][-1],
                counts["ours"][-1],
                methods["ours"][-1][0],
                methods["texttiling"][-1][0],
                methods["none"][-1][0],
            )
        )
    figures = {
        name: {
            "pk": round(float(np.mean([p for p, _ in values])), 4),
            "windowdiff": round(float(np.mean([w for _, w in values])), 4),
        }
        for name, values in methods.items()
    }
    rows.append(
        (
            "mean",
            float(np.mean(counts["gold"])),
            float(np.mean(counts["ours"])),
            figures["ours"]["pk"],
            figures["texttiling"]["pk"],
            figures["none"]["pk"],
        )
    )
    sessions_read = "AMI series, each joined into one session" if args.join_series else "QMSum meetings"
    print_table(
        f"Topic segmentation on {len(rows) - 1} {sessions_read} (Pk, lower is better)",
        [
            "meeting",
            "gold segments",
            "our topics",
            "ours Pk",
            "TextTiling Pk",
            "no boundary Pk",
        ],
        rows,
    )
    if args.join_series:
        report("topics_joined_series", {**figures, "sessions": details})
    else:
        report("topics", figures)


if __name__ == "__main__":
    main()
