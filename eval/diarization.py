"""Diarization error rate of `diarize` against exact speaker times, beside a one-speaker baseline.

    python -m eval.diarization [--data DIR] [--tune]

What is scored (all from the development data):
- synthetic meetings: the first ~5 minutes of QMSum validation meetings rendered by
  tools/synth_meeting.py (real meeting words, one espeak-ng voice per participant, exact times);
- real voices: the single-speaker clips of asr/manifest.jsonl spliced one after another, so each
  splice is a change between two real people (exact times, no turn-taking dynamics);
- asr/ clips with timed speaker segments. The 3-speaker picovoice clip has speaker tags but no
  times: its times come from forced alignment — the product's Whisper transcript (word timings)
  matched word by word against the reference words — so its boundaries are good to a Whisper
  word timing (~0.1–0.3 s, mostly inside the 0.25 s collar).

The "transcript" handed to `diarize` is the reference segments' times without speakers, so this
measures who-spoke-when, not ASR. DER = (missed + false alarm + confusion) / scored reference
speech, with the best one-to-one speaker mapping and ±0.25 s around reference boundaries unscored.
Beside ours, in the same run: "told count", the same diarization given the true number of speakers
(what `--speakers N` gives a user who knows it), and the one-speaker baseline.

`--tune` sweeps the clustering threshold on other meetings (QMSum training meetings, rendered the
same way) plus the real-voice clips, each alone (must stay one speaker) and spliced.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from scipy.optimize import linear_sum_assignment

from eval.common import argument_parser, print_table, report
from insightcap.audio.decode import SAMPLE_RATE, decode_audio
from insightcap.config import Settings
from insightcap.transcript.diarize import (
    embed_windows,
    speakers_from_prints,
    speech_windows,
)
from insightcap.transcript.schema import Segment, Transcript
from insightcap.transcript.speakers import SpeakerBounds

COLLAR_SECONDS = 0.25
FRAME_SECONDS = 0.01
EVAL_MEETINGS = ("ES2006a", "Bro005", "TS3010a")
TUNE_MEETINGS = ("ES2003d", "Bmr009", "IS1008b")
MEETING_SECONDS = 300
TUNE_MEETING_SECONDS = 180
TUNE_THRESHOLDS = (0.25, 0.275, 0.3, 0.325, 0.35, 0.375, 0.4, 0.425, 0.45, 0.475, 0.5)


class Turn(BaseModel):
    speaker: str
    start: float
    end: float


class Recording(BaseModel, arbitrary_types_allowed=True):
    name: str
    kind: str
    audio: np.ndarray
    turns: list[Turn]

    @property
    def n_speakers(self) -> int:
        return len({turn.speaker for turn in self.turns})


class DiarizationError(BaseModel):
    missed: float
    false_alarm: float
    confusion: float
    scored_seconds: float

    @property
    def der(self) -> float:
        return (self.missed + self.false_alarm + self.confusion) / max(self.scored_seconds, 1e-9)


def _activity(turns: list[Turn], speakers: list[str], frames: int) -> np.ndarray:
    """A speakers × frames boolean matrix of who is talking in each 10 ms frame."""
    active = np.zeros((len(speakers), frames), dtype=bool)
    for turn in turns:
        active[
            speakers.index(turn.speaker), round(turn.start / FRAME_SECONDS) : round(turn.end / FRAME_SECONDS)
        ] = True
    return active


def diarization_error(
    reference: list[Turn], hypothesis: list[Turn], collar: float = COLLAR_SECONDS
) -> DiarizationError:
    """Missed speech, false alarm and speaker confusion in seconds, NIST-style, on 10 ms frames."""
    frames = int(np.ceil(max(turn.end for turn in reference + hypothesis) / FRAME_SECONDS)) + 1
    ref_speakers = sorted({turn.speaker for turn in reference})
    hyp_speakers = sorted({turn.speaker for turn in hypothesis})
    ref = _activity(reference, ref_speakers, frames)
    hyp = _activity(hypothesis, hyp_speakers, frames)
    scored = np.ones(frames, dtype=bool)
    margin = round(collar / FRAME_SECONDS)
    for turn in reference:
        for boundary in (turn.start, turn.end):
            centre = round(boundary / FRAME_SECONDS)
            scored[max(0, centre - margin) : centre + margin] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    overlap = ref.astype(np.int64) @ hyp.T.astype(np.int64)  # frames ref speaker i and hyp speaker j share
    rows, cols = linear_sum_assignment(-overlap)
    mapped = np.zeros(ref.shape[1], dtype=np.int64)
    for row, col in zip(rows, cols):
        mapped += ref[row] & hyp[col]
    return DiarizationError(
        missed=float(np.maximum(n_ref - n_hyp, 0).sum() * FRAME_SECONDS),
        false_alarm=float(np.maximum(n_hyp - n_ref, 0).sum() * FRAME_SECONDS),
        confusion=float((np.minimum(n_ref, n_hyp) - mapped).sum() * FRAME_SECONDS),
        scored_seconds=float(n_ref.sum() * FRAME_SECONDS),
    )


def _synth_tool(data: Path) -> Path:
    beside = data.parent / "tools" / "synth_meeting.py"
    return beside if beside.is_file() else Path("/work/shared/eval/tools/synth_meeting.py")


def render_meeting(
    data: Path, meetings_file: Path, meeting_id: str, max_seconds: float, folder: Path
) -> Recording:
    """A QMSum meeting's opening minutes spoken by espeak-ng voices, with its exact speaker turns."""
    out = folder / meeting_id
    subprocess.run(
        [
            sys.executable,
            str(_synth_tool(data)),
            "--meetings",
            str(meetings_file),
            "--meeting",
            meeting_id,
            "--max-seconds",
            str(max_seconds),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    reference = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    turns = [Turn(speaker=s["speaker"], start=s["start"], end=s["end"]) for s in reference["segments"]]
    return Recording(
        name=meeting_id, kind="synthetic meeting", audio=decode_audio(out.with_suffix(".flac")), turns=turns
    )


def _manifest(data: Path) -> list[dict]:
    return [
        json.loads(line)
        for line in (data / "asr" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def single_speaker_clips(data: Path) -> list[Recording]:
    recordings = []
    for clip in _manifest(data):
        if clip["n_speakers"] == 1:
            audio = decode_audio(data / "asr" / clip["audio"])
            turns = [Turn(speaker=clip["id"], start=0.0, end=len(audio) / SAMPLE_RATE)]
            recordings.append(Recording(name=clip["id"], kind="real, one voice", audio=audio, turns=turns))
    return recordings


def spliced(clips: list[Recording]) -> Recording:
    """Real single-speaker clips back to back: every splice is a change of real speaker."""
    turns, clock = [], 0.0
    for clip in clips:
        duration = len(clip.audio) / SAMPLE_RATE
        turns.append(Turn(speaker=clip.name, start=clock, end=clock + duration))
        clock += duration
    audio = np.concatenate([clip.audio for clip in clips])
    return Recording(name="single-speaker clips spliced", kind="real voices", audio=audio, turns=turns)


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def aligned_clips(data: Path, settings: Settings) -> list[Recording]:
    """Multi-speaker manifest clips; untimed reference segments get times by forced alignment."""
    recordings = []
    for clip in _manifest(data):
        segments = clip.get("segments") or []
        if clip["n_speakers"] < 2 or not segments:
            continue
        path = data / "asr" / clip["audio"]
        if all(s["start"] is not None and s["end"] is not None for s in segments):
            turns = [Turn(speaker=s["speaker"], start=s["start"], end=s["end"]) for s in segments]
        else:
            turns = _align(path, segments, settings)
        recordings.append(
            Recording(name=clip["id"], kind="real, aligned", audio=decode_audio(path), turns=turns)
        )
    return recordings


def _align(path: Path, segments: list[dict], settings: Settings) -> list[Turn]:
    """Each reference segment spans its first to last word as timed by the matching Whisper words."""
    from insightcap.transcript.transcribe import get_transcriber

    transcript = get_transcriber(settings).transcribe(path)
    timed = [(word, w) for s in transcript.segments for w in s.words for word in _words(w.text)]
    reference = [(index, word) for index, s in enumerate(segments) for word in _words(s["text"])]
    matcher = difflib.SequenceMatcher(
        a=[word for _, word in reference], b=[word for word, _ in timed], autojunk=False
    )
    spans: dict[int, list[float]] = {}
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            segment_index = reference[block.a + offset][0]
            word = timed[block.b + offset][1]
            span = spans.setdefault(segment_index, [word.start, word.end])
            span[0], span[1] = min(span[0], word.start), max(span[1], word.end)
    if len(spans) < len(segments):
        raise RuntimeError(
            f"{path.name}: Whisper's words matched only {len(spans)} of {len(segments)} reference segments"
        )
    return [
        Turn(speaker=segments[i]["speaker"], start=spans[i][0], end=spans[i][1]) for i in range(len(segments))
    ]


def _reference_transcript(recording: Recording) -> Transcript:
    segments = [Segment(start=turn.start, end=turn.end, text="") for turn in recording.turns]
    return Transcript(segments=segments, duration=len(recording.audio) / SAMPLE_RATE)


def _turns(transcript: Transcript) -> list[Turn]:
    return [Turn(speaker=s.speaker or "", start=s.start, end=s.end) for s in transcript.segments]


class Scored(BaseModel):
    name: str
    kind: str
    n_speakers: int
    found: int
    ours: DiarizationError
    told_count: DiarizationError
    one_speaker: DiarizationError


def _embedded(recording: Recording) -> tuple[Transcript, list, np.ndarray]:
    transcript = _reference_transcript(recording)
    windows = speech_windows(transcript, len(recording.audio) / SAMPLE_RATE)
    return transcript, windows, embed_windows(recording.audio, windows, Settings())


def score(
    recording: Recording, embedded: tuple[Transcript, list, np.ndarray], threshold: float | None = None
) -> Scored:
    transcript, windows, prints = embedded
    options = {} if threshold is None else {"threshold": threshold}
    labelled = speakers_from_prints(transcript, windows, prints, **options)
    # What a user gets who passes `--speakers N` with the true count.
    exact = SpeakerBounds(min_speakers=recording.n_speakers, max_speakers=recording.n_speakers)
    told = speakers_from_prints(transcript, windows, prints, bounds=exact, **options)
    one = [turn.model_copy(update={"speaker": "everyone"}) for turn in recording.turns]
    return Scored(
        name=recording.name,
        kind=recording.kind,
        n_speakers=recording.n_speakers,
        found=len(labelled.speakers),
        ours=diarization_error(recording.turns, _turns(labelled)),
        told_count=diarization_error(recording.turns, _turns(told)),
        one_speaker=diarization_error(recording.turns, one),
    )


def _pooled(results: list[Scored], system: str) -> float:
    errors = [getattr(result, system) for result in results]
    return sum(e.missed + e.false_alarm + e.confusion for e in errors) / sum(e.scored_seconds for e in errors)


def tune(data: Path, folder: Path) -> None:
    clips = single_speaker_clips(data)
    recordings = (
        [
            render_meeting(
                data, data / "qmsum" / "train_extra" / "meetings.jsonl", meeting, TUNE_MEETING_SECONDS, folder
            )
            for meeting in TUNE_MEETINGS
        ]
        + clips
        + [spliced(clips)]
        + aligned_clips(data, Settings())
    )
    embedded = [_embedded(recording) for recording in recordings]
    rows = []
    for threshold in TUNE_THRESHOLDS:
        results = [score(r, e, threshold) for r, e in zip(recordings, embedded)]
        counts = " ".join(f"{r.found}/{r.n_speakers}" for r in results)
        rows.append([threshold, _pooled(results, "ours"), counts])
    print_table(
        "Threshold sweep (tuning set)", ["threshold", "pooled DER", "speakers found/true per file"], rows
    )


def evaluate(data: Path, folder: Path) -> None:
    settings = Settings()
    clips = single_speaker_clips(data)
    recordings = (
        [
            render_meeting(data, data / "qmsum" / "meetings.jsonl", meeting, MEETING_SECONDS, folder)
            for meeting in EVAL_MEETINGS
        ]
        + [spliced(clips)]
        + aligned_clips(data, settings)
    )
    results = [score(recording, _embedded(recording)) for recording in recordings]
    print_table(
        f"Diarization error rate (collar {COLLAR_SECONDS} s)",
        [
            "recording",
            "kind",
            "minutes",
            "speakers",
            "found",
            "DER ours",
            "miss",
            "FA",
            "confusion",
            "DER told count",
            "DER one speaker",
        ],
        [
            [
                r.name,
                r.kind,
                r.ours.scored_seconds / 60,
                r.n_speakers,
                r.found,
                r.ours.der,
                r.ours.missed,
                r.ours.false_alarm,
                r.ours.confusion,
                r.told_count.der,
                r.one_speaker.der,
            ]
            for r in results
        ],
    )
    report(
        "diarization",
        {
            "ours": {"der": round(_pooled(results, "ours"), 4)},
            "told_count": {"der": round(_pooled(results, "told_count"), 4)},
            "one_speaker": {"der": round(_pooled(results, "one_speaker"), 4)},
            "files": {
                r.name: {
                    "der": round(r.ours.der, 4),
                    "told_count_der": round(r.told_count.der, 4),
                    "one_speaker_der": round(r.one_speaker.der, 4),
                    "speakers": r.n_speakers,
                    "found": r.found,
                }
                for r in results
            },
            "collar_s": COLLAR_SECONDS,
        },
    )


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--tune", action="store_true", help="sweep the clustering threshold on the tuning set"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        (tune if args.tune else evaluate)(args.data, Path(folder))


if __name__ == "__main__":
    main()
