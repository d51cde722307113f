"""Speaker diarization on real voices and synthetic meetings, and the per-speaker statistics."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.diarization import Turn, diarization_error
from insightcap.audio.decode import SAMPLE_RATE, decode_audio, iter_audio
from insightcap.transcript.diarize import (
    cluster_voices,
    diarize,
    speakers_from_prints,
    speech_windows,
    window_clips,
)
from insightcap.transcript.schema import Segment, Transcript, Word
from insightcap.transcript.speakers import SpeakerBounds, speaker_stats

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _timed_words(text: str, start: float, end: float) -> list[Word]:
    """Words spread evenly over a turn, stored stripped as the ASR runtimes store them: enough
    timing to test splitting at a change of speaker."""
    tokens = text.split()
    step = (end - start) / len(tokens)
    return [
        Word(text=token, start=start + i * step, end=start + (i + 1) * step)
        for i, token in enumerate(tokens)
    ]


@pytest.fixture(scope="module")
def two_voice_meeting(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list[dict]]:
    """A minute of a real AMI meeting (two participants) spoken by two espeak-ng voices."""
    from tests.conftest import SHARED_EVAL

    tool = SHARED_EVAL / "tools" / "synth_meeting.py"
    if not tool.is_file():
        pytest.skip(f"the meeting synthesiser is not beside this checkout ({tool})")
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("rendering a meeting needs Debian's espeak-ng and sox: apt-get install espeak-ng sox")
    out = tmp_path_factory.mktemp("meeting") / "ts3010c"
    subprocess.run(
        [
            sys.executable,
            str(tool),
            "--meetings",
            str(SHARED_EVAL / "qmsum" / "meetings.jsonl"),
            "--meeting",
            "TS3010c",
            "--turns",
            "90:104",
            "--max-seconds",
            "60",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    reference = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["segments"]
    return decode_audio(out.with_suffix(".flac")), reference


@pytest.mark.slow
def test_two_voices_are_told_apart_and_mixed_segments_split(two_voice_meeting, settings) -> None:
    audio, reference = two_voice_meeting
    # Like Whisper, pair consecutive turns into one segment, so the speaker changes inside it.
    segments = []
    for first in range(0, len(reference), 2):
        pair = reference[first : first + 2]
        words = [w for turn in pair for w in _timed_words(turn["text"], turn["start"], turn["end"])]
        segments.append(
            Segment(
                start=pair[0]["start"],
                end=pair[-1]["end"],
                text=" ".join(t["text"] for t in pair),
                words=words,
            )
        )
    transcript = Transcript(segments=segments, duration=len(audio) / 16_000)

    labelled = diarize(audio, transcript, settings)

    truth = [Turn(speaker=t["speaker"], start=t["start"], end=t["end"]) for t in reference]
    hypothesis = [Turn(speaker=s.speaker, start=s.start, end=s.end) for s in labelled.segments]
    one_speaker = [turn.model_copy(update={"speaker": "everyone"}) for turn in truth]
    assert len({t.speaker for t in truth}) == 2
    assert labelled.speakers == ["Speaker 1", "Speaker 2"]
    assert len(labelled.segments) > len(segments)  # the paired turns were split again
    ours, baseline = diarization_error(truth, hypothesis).der, diarization_error(truth, one_speaker).der
    assert ours < 0.1 and ours < baseline / 3, (ours, baseline)
    assert labelled.text.split() == transcript.text.split()  # splitting loses no word

    capped = diarize(audio, transcript, settings, SpeakerBounds(max_speakers=1))
    assert capped.speakers == ["Speaker 1"]
    assert all(segment.speaker == "Speaker 1" for segment in capped.segments)


@pytest.mark.slow
def test_one_real_voice_stays_one_speaker(shared_eval: Path, settings) -> None:
    audio = decode_audio(shared_eval / "asr" / "audio" / "jfk_inaugural_1961.flac")
    bounds = [(0.3, 3.9), (3.9, 7.6), (7.6, 10.9)]
    transcript = Transcript(segments=[Segment(start=s, end=e, text="words") for s, e in bounds])

    labelled = diarize(audio, transcript, settings)

    assert [segment.speaker for segment in labelled.segments] == ["Speaker 1"] * 3


def test_streamed_windows_hear_exactly_what_the_whole_recording_holds() -> None:
    """Windows cut from iter_audio's chunks are the very samples of the decoded recording, so
    streaming changes no voice print; windows past the end get what there is."""
    recording = EXAMPLES / "team-retrospective.ogg"
    whole = decode_audio(recording)
    seconds = len(whole) / SAMPLE_RATE
    speech = [(0.0, 4.2), (3.0, 9.5), (27.3, 31.0), (118.0, 125.0), (seconds - 2.0, seconds + 1.0)]
    transcript = Transcript(segments=[Segment(start=start, end=end, text="words") for start, end in speech])
    windows = speech_windows(transcript, audio_seconds=seconds + 5.0)

    streamed = list(window_clips(iter_audio(recording, chunk_seconds=7.3), windows))

    assert [w.start for w in windows] == sorted(w.start for w in windows)  # overlapping segments interleave
    assert len(streamed) == len(windows)
    for window, clip in zip(windows, streamed):
        assert np.array_equal(clip, whole[int(window.start * SAMPLE_RATE) : int(window.end * SAMPLE_RATE)])
    assert 0 < len(streamed[-1]) < 1.5 * SAMPLE_RATE


def test_segment_is_split_where_the_voice_changes() -> None:
    """The labelling half on hand-made voice prints: two clearly different voices, 6 s each."""
    words = _timed_words("one two three four five six", 0.0, 6.0) + _timed_words(
        "seven eight nine ten eleven twelve", 6.0, 12.0
    )
    transcript = Transcript(segments=[Segment(start=0.0, end=12.0, text="one ... twelve", words=words)])
    windows = speech_windows(transcript, audio_seconds=12.0)
    rng = np.random.default_rng(0)
    voices = np.eye(256)[[3, 7]]
    prints = np.stack([voices[int((w.start + w.end) / 2 >= 6.0)] + 0.05 * rng.random(256) for w in windows])
    prints /= np.linalg.norm(prints, axis=1, keepdims=True)

    labelled = speakers_from_prints(transcript, windows, prints)

    assert [(s.speaker, s.text) for s in labelled.segments] == [
        ("Speaker 1", "one two three four five six"),
        ("Speaker 2", "seven eight nine ten eleven twelve"),
    ]
    assert labelled.segments[0].end == pytest.approx(6.0) and labelled.segments[1].start == pytest.approx(6.0)


def _voice_prints(speakers: int, windows_each: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Voice-print-like unit vectors: real voices sit about 0.5 apart (cosine distance between their
    mean prints), and one voice's windows about 0.2 apart, drifting between a few manners of speaking
    (sub-groups) and varying in a few directions, as GE2E prints do."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=256)
    prints, speaker = [], []
    for index in range(speakers):
        centre = shared + 0.9 * rng.normal(size=256)
        centre *= np.sqrt(256) / np.linalg.norm(centre)
        directions = rng.normal(size=(12, 256))
        manners = centre + 0.1 * rng.normal(size=(8, 12)) @ directions
        windows = manners[rng.integers(8, size=windows_each)]
        windows += 0.12 * rng.normal(size=(windows_each, 12)) @ directions
        prints.append(windows + 0.1 * rng.normal(size=(windows_each, 256)))
        speaker += [index] * windows_each
    stacked = np.concatenate(prints)
    return stacked / np.linalg.norm(stacked, axis=1, keepdims=True), np.array(speaker)


@pytest.mark.parametrize("speakers", [3, 5])
@pytest.mark.parametrize("windows_each", [50, 1500])
def test_speaker_count_stays_put_however_long_the_recording(speakers: int, windows_each: int) -> None:
    """A minute or over an hour of each voice (past the clustering sample): the same speakers.

    The distance cut alone split one voice into more groups the more windows it had (a 2.5-hour
    synthetic meeting of 4 voices gave 19 speakers); merging groups that do not stand apart keeps
    the count at the number of voices."""
    prints, speaker = _voice_prints(speakers, windows_each, seed=speakers)

    labels = cluster_voices(prints)

    assert len(np.unique(labels)) == speakers
    for voice in range(speakers):  # each voice is one speaker, and each speaker one voice
        assert len(np.unique(labels[speaker == voice])) == 1
    assert cluster_voices(prints, SpeakerBounds(max_speakers=speakers - 1)).max() + 1 == speakers - 1
    assert cluster_voices(prints, SpeakerBounds(min_speakers=speakers + 1)).max() + 1 == speakers + 1


def test_speaker_stats_add_up() -> None:
    def seg(speaker: str | None, start: float, end: float, text: str) -> Segment:
        return Segment(speaker=speaker, start=start, end=end, text=text)

    transcript = Transcript(
        segments=[
            seg("Speaker 1", 0, 4, "we should start"),
            seg("Speaker 1", 4, 6, "with the budget"),
            seg("Speaker 2", 6, 8, "agreed"),
            seg("Speaker 1", 8, 10, "good then"),
            seg("Speaker 3", 10, 12, "one more thing here"),
        ]
    )

    stats = {s.speaker: s for s in speaker_stats(transcript)}

    assert list(stats) == ["Speaker 1", "Speaker 2", "Speaker 3"]
    assert stats["Speaker 1"].turns == 2 and stats["Speaker 2"].turns == 1 and stats["Speaker 3"].turns == 1
    assert stats["Speaker 1"].talk_seconds == 8 and stats["Speaker 1"].words == 8
    assert stats["Speaker 1"].share == pytest.approx(8 / 12)
    assert sum(s.share for s in stats.values()) == pytest.approx(1.0)
