"""Real meetings as the product sees them: a QMSum meeting or an AMI meeting's dialogue acts → Transcript.

The topic, summary and action evals all run the product on real meetings, so they share how a
meeting becomes a `Transcript`. QMSum has no times: each turn lasts as long as reading it aloud
would (the same pace as `eval.qmsum_to_vtt`, so an imported VTT and these transcripts agree).
AMI dialogue acts carry real start/end times and the speaker's agent letter.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.qmsum_to_vtt import GAP_SECONDS, timed_turns
from insightcap.config import Settings
from insightcap.insights.nlp import load_nlp
from insightcap.insights.sentences import ParsedSentence, split_sentences
from insightcap.themes.embed import Embedder
from insightcap.transcript.schema import Segment, Transcript

# An AMI meeting of a four-meeting series (ES2006a, ES2006b, …): one design team's project.
AMI_MEETING = re.compile(r"^(?P<series>(ES|IS|TS)\d{4})[a-d]$")


@dataclass(frozen=True)
class MeetingTranscript:
    """A transcript and, for each of its segments, the QMSum turn it came from."""

    meeting_id: str
    transcript: Transcript
    turn_of_segment: list[int]
    n_turns: int


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def qmsum_transcript(meeting: dict[str, Any]) -> MeetingTranscript:
    """One segment per spoken turn (turns with only markers are left out), timed at reading pace."""
    turns = list(timed_turns(meeting))
    segments = [Segment(start=t.start, end=t.end, text=t.text, speaker=t.speaker or None) for t in turns]
    return MeetingTranscript(
        meeting_id=meeting["meeting_id"],
        transcript=Transcript(
            segments=segments,
            duration=turns[-1].end + GAP_SECONDS if turns else 0.0,
            source="import",
            produced_by="qmsum",
        ),
        turn_of_segment=[t.idx for t in turns],
        n_turns=len(meeting["turns"]),
    )


def ami_transcripts(data: Path, meeting_ids: set[str]) -> dict[str, Transcript]:
    """The dialogue acts of each requested AMI meeting as a transcript: one segment per act with words."""
    acts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for act in read_jsonl(data / "ami" / "dialogue_acts.jsonl"):
        if act["meeting_id"] in meeting_ids and act["text"].strip():
            acts[act["meeting_id"]].append(act)
    return {
        meeting_id: Transcript(
            segments=[
                Segment(
                    start=act["start"],
                    end=max(act["end"], act["start"]),
                    text=act["text"],
                    speaker=act["speaker"],
                )
                for act in sorted(rows, key=lambda act: act["start"])
            ],
            duration=max(act["end"] for act in rows),
            source="import",
            produced_by="ami",
        )
        for meeting_id, rows in acts.items()
    }


def gold_turn_segments(topics: list[dict[str, Any]], n_turns: int) -> np.ndarray:
    """A segment number per turn from QMSum's gold topics (spans inclusive).

    A topic with several spans is several segments; a turn outside every span (chit-chat) joins
    the segment before it, and turns before the first span join the first segment.
    """
    label = np.full(n_turns, -1)
    for topic_number, topic in enumerate(topics):
        for start, end in topic["spans"]:
            label[start : end + 1] = topic_number
    return run_numbers(fill_forward(label, first=next((value for value in label if value >= 0), 0)))


def fill_forward(labels: np.ndarray, first: int) -> np.ndarray:
    """Unlabelled (-1) positions take the label before them; those before any label take `first`."""
    filled = labels.copy()
    previous = first
    for position, value in enumerate(filled):
        previous = value if value >= 0 else previous
        filled[position] = previous
    return filled


def run_numbers(labels: np.ndarray) -> np.ndarray:
    """Contiguous runs of equal labels numbered 0, 1, 2, …: a label that comes back is a new segment."""
    if not len(labels):
        return labels
    return np.concatenate([[0], np.cumsum(labels[1:] != labels[:-1])])


def sentences_and_embeddings(
    transcript: Transcript, settings: Settings
) -> tuple[list[ParsedSentence], np.ndarray]:
    """What the structure stage computes before segmenting: the product's own split and embeddings."""
    sentences = split_sentences(transcript, load_nlp(settings))
    return sentences, Embedder(settings).encode([parsed.sentence.text for parsed in sentences])
