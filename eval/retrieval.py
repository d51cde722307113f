"""Retrieval over past sessions on QMSum: keyword, semantic and hybrid search, recall@10 and MRR.

Every QMSum meeting is imported as a session (turns → transcript segments with synthetic times) and
indexed by the product's own code (passages, FTS5, faiss); each "specific" query is then searched
over all meetings, within its program, and within its own meeting (queries are written per meeting).
A program is the recurring group a meeting belongs to, as a facilitator's program would be: one
AMI team's four meetings (ES2006a-d), one ICSI research group (Bed, Bmr, Bro), one committee.
Over all meetings, half the queries are AMI ones whose meeting is one of 20 where five teams do the
same scripted design task, so "what did Marketing think of the buttons?" fits several meetings
equally; the program scope is the search a facilitator makes over their own program's sessions.
A hit is relevant when it comes from the query's meeting and overlaps a gold turn span.
recall@10 here is success@10: the share of queries with at least one relevant hit in the top 10.

A second measure is known-item search: someone remembers a few words said ("like a balloon in a
cage") and looks for the moment. QUOTE_PROBES phrases of 4-7 consecutive words are drawn from the
meetings' turns (fixed seed) and searched over all meetings; a hit is relevant when it holds the
turn the phrase was said in.

    python -m eval.retrieval --data ../shared/eval [--workdir /tmp/retrieval]  # reuse an index
"""

from __future__ import annotations

import bisect
import json
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from eval.common import argument_parser, print_table, report

MARKER = re.compile(r"\{\w+\}")
SECONDS_PER_WORD, PAUSE = 0.4, 0.3
QUOTE_PROBES, QUOTE_SEED = 150, 7


@dataclass(frozen=True)
class ImportedMeeting:
    meeting_id: str
    program: str | None
    turn_starts: list[float]

    def turns_of(self, start: float, end: float) -> tuple[int, int]:
        """The first and last turn a stretch of time overlaps."""
        first = max(bisect.bisect_right(self.turn_starts, start + 1e-6) - 1, 0)
        last = max(bisect.bisect_left(self.turn_starts, end - 1e-6) - 1, first)
        return first, last


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def turn_words(turn: dict) -> list[str]:
    """A turn's words as imported: annotation markers ({vocalsound}) dropped."""
    return MARKER.sub(" ", turn["text"]).split()


def quote_probes(meetings: list[dict], count: int = QUOTE_PROBES, seed: int = QUOTE_SEED) -> list[dict]:
    """Queries made of a few consecutive words of one turn, shaped like QMSum's: that turn is the
    relevant span."""
    rng = random.Random(seed)
    probes: list[dict] = []
    while len(probes) < count:
        meeting = rng.choice(meetings)
        turn = rng.randrange(len(meeting["turns"]))
        words = turn_words(meeting["turns"][turn])
        if len(words) < 8:
            continue
        length = rng.randint(4, 7)
        first = rng.randrange(len(words) - length)
        phrase = " ".join(words[first : first + length])
        probes.append({"meeting_id": meeting["meeting_id"], "query": phrase, "relevant_spans": [[turn, turn]]})
    return probes


def meeting_transcript(meeting: dict):
    """A QMSum meeting as an imported transcript: one segment per turn, timed by its word count."""
    from insightcap.transcript.schema import Segment, Transcript

    segments, clock = [], 0.0
    for turn in meeting["turns"]:
        text = " ".join(turn_words(turn))
        duration = SECONDS_PER_WORD * max(len(text.split()), 1)
        segments.append(Segment(start=clock, end=clock + duration, text=text, speaker=turn["speaker"]))
        clock += duration + PAUSE
    return Transcript(segments=segments, duration=clock, source="import", produced_by="qmsum")


def program_of(meeting: dict) -> str:
    """The recurring group a QMSum meeting belongs to: its AMI team, ICSI group or committee."""
    meeting_id = meeting["meeting_id"]
    if meeting["domain"] == "Product":
        return meeting_id.rstrip("abcd")
    if meeting["domain"] == "Academic":
        return meeting_id[:3]
    return meeting_id.split("_")[0]


def import_meetings(settings, meetings: list[dict], program_of=program_of) -> dict[str, ImportedMeeting]:
    """Each meeting as a session of the data dir in `settings`, indexed by the product's code;
    a data dir that already holds them is reused as it is."""
    from insightcap.search.indexing import index_session
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    imported = {}
    with session_scope(settings) as db:
        existing = {record.id for record in repo.list_sessions(db)}
    for meeting in meetings:
        transcript = meeting_transcript(meeting)
        meeting_id = meeting["meeting_id"]
        imported[meeting_id] = ImportedMeeting(
            meeting_id, program_of(meeting), [segment.start for segment in transcript.segments]
        )
        if meeting_id in existing:
            continue
        with session_scope(settings) as db:
            repo.create_session(
                db, session_id=meeting_id, title=meeting_id, source_kind="transcript",
                original_filename=f"{meeting_id}.json", stored_path=f"media/{meeting_id}", program=program_of(meeting),
            )
            repo.save_output(db, meeting_id, "transcript", transcript)
        index_session(settings, meeting_id)
    return imported


def settings_for(workdir: Path | None):
    """Settings on a throw-away data dir (or `workdir`, kept for reuse between runs)."""
    import torch

    from insightcap.config import Settings

    # The eval machine's cores are shared: one thread per process avoids oversubscription stalls.
    torch.set_num_threads(1)
    folder = workdir or Path(tempfile.mkdtemp(prefix="insightcap-eval-"))
    return Settings(data_dir=folder)


SCOPES = {"all": "all meetings", "program": "its program", "meeting": "its own meeting"}


def evaluate(settings, queries: list[dict], meetings: dict[str, ImportedMeeting], mode: str, scope: str) -> dict:
    from insightcap.search.hybrid import search
    from insightcap.search.schema import SearchFilters

    found, reciprocal = 0, 0.0
    for query in queries:
        meeting = meetings[query["meeting_id"]]
        filters = {
            "all": SearchFilters(),
            "program": SearchFilters(program=meeting.program),
            "meeting": SearchFilters(session_id=meeting.meeting_id),
        }[scope]
        hits = search(settings, query["query"], filters, limit=10, mode=mode)
        for rank, hit in enumerate(hits, start=1):
            if hit.session_id != meeting.meeting_id:
                continue
            first, last = meeting.turns_of(hit.start, hit.end)
            if any(first <= end and start <= last for start, end in query["relevant_spans"]):
                found += 1
                reciprocal += 1 / rank
                break
    return {"recall@10": round(found / len(queries), 4), "mrr": round(reciprocal / len(queries), 4)}


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep the imported, indexed meetings here and reuse them")
    args = parser.parse_args()
    settings = settings_for(args.workdir)
    meetings = read_jsonl(args.data / "qmsum" / "meetings.jsonl")
    queries = [query for query in read_jsonl(args.data / "qmsum" / "queries.jsonl") if query["type"] == "specific"]
    imported = import_meetings(settings, meetings)
    figures, rows = {}, []
    for scope, scope_name in SCOPES.items():
        for mode in ("keyword", "semantic", "hybrid"):
            name = mode if scope == "all" else f"{mode}_within_{scope}"
            figures[name] = evaluate(settings, queries, imported, mode, scope)
            over = f"all {len(meetings)} meetings" if scope == "all" else scope_name
            rows.append([mode, over, figures[name]["recall@10"], figures[name]["mrr"]])
    print_table(f"QMSum retrieval, {len(queries)} specific queries", ["search", "over", "recall@10", "MRR"], rows)
    probes, quote_rows = quote_probes(meetings), []
    for mode in ("keyword", "semantic", "hybrid"):
        figures[f"{mode}_quotes"] = evaluate(settings, probes, imported, mode, "all")
        quote_rows.append([mode, figures[f"{mode}_quotes"]["recall@10"], figures[f"{mode}_quotes"]["mrr"]])
    print_table(
        f"Known-item search: {len(probes)} phrases said, over all {len(meetings)} meetings",
        ["search", "recall@10", "MRR"], quote_rows,
    )
    report("retrieval", figures)


if __name__ == "__main__":
    main()
