"""Commitments against AMI's human action items: `python -m eval.actions --data DIR`.

For every AMI meeting in DIR/ami/abstractive.jsonl whose annotator wrote action items, the
meeting's dialogue acts (DIR/ami/dialogue_acts.jsonl) are the transcript. Its speakers are named
by their role in the meeting ("Project Manager", "Industrial Designer", …): that is how the
participants address each other and how the annotators name them, as a facilitator's session
names its participants. Annotators' "*NA*" (no action) lines are not action items and are left
out.

Three ways of listing a meeting's commitments, in the same run:
- baseline: the sentences the section head calls action_item, each stated as its quote (what
  the product did before the commitment detector);
- parse: insightcap.insights.actions.find_action_items without a generator (statements from the
  dependency parse);
- product: what the structure stage lists, insightcap.insights.structure.action_items: the
  detector's items plus the section head's offers, worded by the parse;
- generator: the same with the local generator writing each task (only with --generator).

A human action is found (recall) when one of ours reaches the MiniLM cosine THRESHOLD against it;
one of ours is right (precision) when it reaches it against one of the human actions. Both are
pooled over all meetings. The commitment detector never trained on the held-out series of
eval/train_sections.py; run with --series to score those alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from eval.common import argument_parser, print_table, report
from eval.pipeline_inputs import ami_transcripts, read_jsonl
from eval.train_sections import HELD_OUT_SERIES
from insightcap.config import Settings
from insightcap.generator.factory import get_generator
from insightcap.insights.actions import ActionContext, TaskWriter, find_action_items
from insightcap.insights.classify import classify_sentences
from insightcap.insights.nlp import load_nlp
from insightcap.insights.schema import Section
from insightcap.insights.sentences import ParsedSentence, split_sentences
from insightcap.insights.structure import (
    MIN_CONFIDENCE,
    action_items,
    concise_statement,
)
from insightcap.themes.embed import Embedder
from insightcap.transcript.schema import Transcript

# MiniLM cosine at which two sentences say the same thing in other words ("The designer will
# look at the buttons" / "I'll check the buttons").
THRESHOLD = 0.5
ROLE_NAMES = {
    "PM": "Project Manager",
    "ME": "Marketing Expert",
    "UI": "User Interface Designer",
    "ID": "Industrial Designer",
}
_NO_ACTION = re.compile(r"^\W*n/?a\W*$", re.IGNORECASE)


@dataclass
class Tally:
    found: int = 0
    matched: int = 0
    ours: int = 0
    per_meeting: list[tuple[int, int, int]] = field(default_factory=list)

    def add(self, similarity: np.ndarray) -> None:
        found = int((similarity.max(axis=1) >= THRESHOLD).sum()) if similarity.shape[1] else 0
        matched = int((similarity.max(axis=0) >= THRESHOLD).sum()) if similarity.shape[1] else 0
        self.found, self.matched, self.ours = self.found + found, self.matched + matched, self.ours + similarity.shape[1]
        self.per_meeting.append((similarity.shape[1], found, matched))

    def figures(self, references: int) -> dict[str, float]:
        return {
            "recall": round(self.found / max(references, 1), 4),
            "precision": round(self.matched / max(self.ours, 1), 4),
            "items": self.ours,
        }


def human_actions(data, series: set[str]) -> dict[str, list[str]]:
    meetings = {}
    for row in read_jsonl(data / "ami" / "abstractive.jsonl"):
        actions = [text for text in row["actions"] if not _NO_ACTION.match(text)]
        if actions and (not series or row["meeting_id"][:6] in series):
            meetings[row["meeting_id"]] = actions
    return meetings


def role_names(data, meeting_ids: set[str]) -> dict[tuple[str, str], str]:
    """(meeting, agent letter) → the participant's role, for scenario meetings."""
    return {
        (act["meeting_id"], act["speaker"]): ROLE_NAMES[act["role"]]
        for act in read_jsonl(data / "ami" / "dialogue_acts.jsonl")
        if act["meeting_id"] in meeting_ids and act.get("role") in ROLE_NAMES
    }


def named_by_role(meeting_id: str, transcript: Transcript, roles: dict[tuple[str, str], str]) -> Transcript:
    segments = [
        segment.model_copy(update={"speaker": roles.get((meeting_id, segment.speaker or ""), segment.speaker)})
        for segment in transcript.segments
    ]
    return transcript.model_copy(update={"segments": segments})


def baseline_statements(sentences: list[ParsedSentence], embeddings: np.ndarray, embedder: Embedder) -> list[str]:
    calls = classify_sentences(sentences, embeddings, embedder)
    return [
        concise_statement(parsed)
        for parsed, call in zip(sentences, calls)
        if call.section == Section.ACTION_ITEM and call.confidence >= MIN_CONFIDENCE
    ]


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--series",
        default="",
        help="only meetings of these AMI series, comma-separated (e.g. ES2006,TS3010), or 'held-out' "
        "for the series no model trained on; default: all",
    )
    parser.add_argument("--generator", action="store_true", help="also score tasks written by the local generator")
    args = parser.parse_args()
    series = set(HELD_OUT_SERIES) if args.series == "held-out" else {name.strip() for name in args.series.split(",") if name.strip()}
    settings = Settings()
    embedder = Embedder(settings)
    nlp = load_nlp(settings)
    human = human_actions(args.data, series)
    roles = role_names(args.data, set(human))
    transcripts = ami_transcripts(args.data, set(human))

    methods: dict[str, Callable[[list[ParsedSentence], np.ndarray], list[str]]] = {
        "baseline": lambda sentences, embeddings: baseline_statements(sentences, embeddings, embedder),
        "parse": lambda sentences, embeddings: [
            insight.statement
            for insight in find_action_items(sentences, embeddings, {}, ActionContext(None, embedder))
        ],
        "product": lambda sentences, embeddings: [
            insight.statement
            for insight in action_items(sentences, embeddings, classify_sentences(sentences, embeddings, embedder),
                                        {}, ActionContext(None, embedder))
        ],
    }
    if args.generator:
        generator = get_generator(settings.model_copy(update={"generator": "llama-cpp"}))
        writer = TaskWriter(generator, nlp)
        methods["generator"] = lambda sentences, embeddings: [
            insight.statement
            for insight in find_action_items(sentences, embeddings, {}, ActionContext(None, embedder, writer))
        ]
    tallies = {name: Tally() for name in methods}
    meetings = sorted(transcripts)
    for meeting_id in meetings:
        sentences = split_sentences(named_by_role(meeting_id, transcripts[meeting_id], roles), nlp)
        embeddings = embedder.encode([parsed.sentence.text for parsed in sentences])
        references = embedder.encode(human[meeting_id])
        for name, method in methods.items():
            statements = method(sentences, embeddings)
            ours = embedder.encode(statements) if statements else np.zeros((0, references.shape[1]))
            tallies[name].add(references @ ours.T)

    references_total = sum(len(human[meeting]) for meeting in meetings)
    rows = [
        (meeting, len(human[meeting]), *(f"{n} / {f} / {m}" for n, f, m in (tallies[name].per_meeting[i] for name in methods)))
        for i, meeting in enumerate(meetings)
    ]
    rows.append(
        ("all", references_total, *(f"{t.ours} / {t.found} / {t.matched}" for t in tallies.values()))
    )
    print_table(
        f"Action items on {len(meetings)} AMI meetings (MiniLM cosine ≥ {THRESHOLD}); "
        "per method: our items / human found / ours matched",
        ["meeting", "human actions", *methods],
        rows,
    )
    figures = {name: tally.figures(references_total) for name, tally in tallies.items()}
    print_table(
        "Pooled",
        ["method", "recall", "precision", "items"],
        [(name, f["recall"], f["precision"], f["items"]) for name, f in figures.items()],
    )
    best = "product"  # the headline is what the structure stage gives a user
    report(
        "actions",
        {
            "recall": figures[best]["recall"],
            "precision": figures[best]["precision"],
            "threshold": THRESHOLD,
            "method": best,
            "meetings": len(meetings),
            "human_actions": references_total,
            **figures,
        },
    )


if __name__ == "__main__":
    main()
