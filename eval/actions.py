"""Commitments against AMI's human action items: `python -m eval.actions --data DIR`.

For every AMI meeting in DIR/ami/abstractive.jsonl whose annotator wrote action items, the
meeting's dialogue acts (DIR/ami/dialogue_acts.jsonl: real times, the speaker's agent letter)
are the transcript; the product's extract_insights runs on it and its action_item insights are
matched to the human action sentences by MiniLM cosine. A human action is found (recall) when one
of ours reaches the threshold against it; one of ours is right (precision) when it reaches the
threshold against one of the human actions. Both are pooled over all meetings.
"""

from __future__ import annotations

import numpy as np

from eval.common import argument_parser, print_table, report
from eval.pipeline_inputs import ami_transcripts, read_jsonl
from insightcap.config import Settings
from insightcap.insights.schema import Section
from insightcap.insights.structure import extract_insights
from insightcap.themes.embed import Embedder

# MiniLM cosine at which two sentences say the same thing in other words ("The designer will
# look at the buttons" / "I'll check the buttons").
THRESHOLD = 0.5


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--series",
        default="",
        help="only meetings of these AMI series, comma-separated (e.g. ES2006,TS3010); default: all",
    )
    args = parser.parse_args()
    series = {name.strip() for name in args.series.split(",") if name.strip()}
    settings = Settings()
    embedder = Embedder(settings)
    human = {
        row["meeting_id"]: row["actions"]
        for row in read_jsonl(args.data / "ami" / "abstractive.jsonl")
        if row["actions"] and (not series or row["meeting_id"][:6] in series)
    }
    transcripts = ami_transcripts(args.data, set(human))
    found = matched = ours_total = human_total = 0
    rows = []
    for meeting_id in sorted(transcripts):
        insights = extract_insights(transcripts[meeting_id], settings)
        ours = [insight.statement for insight in insights.in_section(Section.ACTION_ITEM)]
        references = human[meeting_id]
        similarity = (
            embedder.encode(references) @ embedder.encode(ours).T if ours else np.zeros((len(references), 0))
        )
        meeting_found = int((similarity.max(axis=1) >= THRESHOLD).sum()) if ours else 0
        meeting_matched = int((similarity.max(axis=0) >= THRESHOLD).sum()) if ours else 0
        found += meeting_found
        matched += meeting_matched
        human_total += len(references)
        ours_total += len(ours)
        rows.append((meeting_id, len(references), len(ours), meeting_found, meeting_matched))
    recall = found / max(human_total, 1)
    precision = matched / max(ours_total, 1)
    rows.append(("all", human_total, ours_total, found, matched))
    print_table(
        f"Action items on {len(rows) - 1} AMI meetings (MiniLM cosine ≥ {THRESHOLD})",
        ["meeting", "human actions", "our action items", "human found", "ours matched"],
        rows,
    )
    report(
        "actions",
        {
            "recall": round(recall, 4),
            "precision": round(precision, 4),
            "threshold": THRESHOLD,
            "meetings": len(rows) - 1,
            "human_actions": human_total,
            "our_action_items": ours_total,
        },
    )


if __name__ == "__main__":
    main()
