"""The number of speakers a user gives (`--speakers N`, or a minimum and maximum): validated where it
is given, kept with the session, honoured by the clustering on real recordings; and the talk-time
table `insightcap show` prints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.diarization import Turn, diarization_error
from insightcap.audio.decode import iter_audio
from insightcap.config import Settings
from insightcap.jobs.intake import submit_recording
from insightcap.jobs.stages import STAGES, StageContext
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.transcript.diarize import (
    embed_windows,
    speakers_from_prints,
    speech_windows,
)
from insightcap.transcript.schema import Segment, Transcript
from insightcap.transcript.speakers import SpeakerBounds, SpeakerHintError
from tests.test_cli import EXAMPLES, cli

MEETING = EXAMPLES / "team-retrospective.ogg"


def _opening(seconds: float) -> tuple[Transcript, list[Turn]]:
    """The example meeting's turns that end within `seconds`: a transcript without speakers, and the truth."""
    reference = json.loads(MEETING.with_suffix(".reference.json").read_text(encoding="utf-8"))
    turns = [Turn(speaker=s["speaker"], start=s["start"], end=s["end"]) for s in reference["segments"]
             if s["end"] < seconds]
    segments = [Segment(start=turn.start, end=turn.end, text="words") for turn in turns]
    return Transcript(segments=segments, duration=reference["duration_s"]), turns


@pytest.mark.parametrize(
    ("exact", "low", "high", "message"),
    [
        (0, None, None, "number of speakers must be between 1 and 20 (got 0)"),
        (21, None, None, "between 1 and 20 (got 21)"),
        (None, 0, None, "minimum number of speakers must be between 1 and 20"),
        (None, 4, 2, "minimum number of speakers (4) cannot be more than the maximum (2)"),
        (3, 2, None, "either the exact number of speakers or a minimum and maximum, not both"),
    ],
)
def test_impossible_counts_are_refused_in_plain_words(exact, low, high, message) -> None:
    with pytest.raises(SpeakerHintError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SpeakerBounds.from_hint(exact, low, high)


def test_bounds_clamp_the_count_found() -> None:
    assert SpeakerBounds.from_hint(3).clamp(7) == 3 and SpeakerBounds.from_hint(3).clamp(1) == 3
    assert SpeakerBounds(min_speakers=2).clamp(1) == 2 and SpeakerBounds(min_speakers=2).clamp(5) == 5
    assert SpeakerBounds(max_speakers=4).clamp(6) == 4 and SpeakerBounds().clamp(6) == 6


@pytest.fixture(scope="module")
def opening_prints() -> tuple[Transcript, list[Turn], list, np.ndarray]:
    """The first minute of the example meeting (three espeak voices), embedded from the streamed recording."""
    transcript, truth = _opening(60.0)
    windows = speech_windows(transcript, transcript.duration)
    return transcript, truth, windows, embed_windows(iter_audio(MEETING), windows, Settings())


@pytest.mark.slow
def test_the_count_given_is_honoured_on_real_recordings(opening_prints) -> None:
    transcript, truth, windows, prints = opening_prints

    def diarized(bounds: SpeakerBounds) -> tuple[int, float]:
        labelled = speakers_from_prints(transcript, windows, prints, bounds)
        hypothesis = [Turn(speaker=s.speaker, start=s.start, end=s.end) for s in labelled.segments]
        return len(labelled.speakers), diarization_error(truth, hypothesis).der

    assert len({turn.speaker for turn in truth}) == 3
    found, auto_der = diarized(SpeakerBounds())
    assert found == 3 and auto_der < 0.05
    assert diarized(SpeakerBounds.from_hint(3)) == (found, auto_der)  # a right hint changes nothing
    assert diarized(SpeakerBounds.from_hint(2))[0] == 2
    assert diarized(SpeakerBounds(max_speakers=1))[0] == 1
    assert diarized(SpeakerBounds(min_speakers=5))[0] == 5
    assert diarized(SpeakerBounds(min_speakers=2, max_speakers=5)) == (found, auto_der)


@pytest.mark.slow
def test_the_speakers_stage_uses_the_count_kept_with_the_session(settings) -> None:
    submitted = submit_recording(MEETING, settings, speakers=SpeakerBounds.from_hint(2))
    transcript, _ = _opening(45.0)
    with session_scope(settings) as db:
        record = repo.get_session(db, submitted.session_id)
        assert (record.min_speakers, record.max_speakers) == (2, 2)
        repo.save_output(db, submitted.session_id, "transcript", transcript)
    reports: list[float] = []

    STAGES["speakers"].run(StageContext(settings, submitted.session_id, lambda done, _: reports.append(done)))

    with session_scope(settings) as db:
        labelled = repo.load_output(db, submitted.session_id, "transcript", Transcript)
    assert labelled.speakers == ["Speaker 1", "Speaker 2"]
    assert all(segment.speaker for segment in labelled.segments)
    assert reports[-1] == 1.0 and reports == sorted(reports)


def test_the_cli_refuses_an_impossible_count_before_storing_anything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for args, message in (
        (("--speakers", "25"), "between 1 and 20 (got 25)"),
        (("--speakers", "2", "--max-speakers", "3"), "not both"),
        (("--min-speakers", "3", "--max-speakers", "2"), "cannot be more than the maximum"),
    ):
        result = cli(data, "process", str(MEETING), *args, check=False)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert "--speakers" in result.stderr and "Traceback" not in result.stderr
    assert json.loads(cli(data, "sessions", "--json").stdout) == []


def test_show_prints_talk_time_share_and_turns_by_given_name(settings) -> None:
    def said(speaker: str, start: float, end: float) -> Segment:
        return Segment(speaker=speaker, start=start, end=end, text="something worth saying")

    transcript = Transcript(
        segments=[said("Speaker 1", 0, 60), said("Speaker 2", 60, 80), said("Speaker 1", 80, 140),
                  said("Speaker 2", 140, 160)],
        duration=160,
    )
    with session_scope(settings) as db:
        record = repo.create_session(db, session_id=repo.new_id(), title="Circle", source_kind="media",
                                     original_filename="circle.ogg", stored_path="media/x/circle.ogg")
        repo.save_output(db, record.id, "transcript", transcript)
        repo.rename_speaker(db, record.id, "Speaker 2", "Amara", by="sam@example.org")
        session_id = record.id

    shown = cli(settings.data_dir, "show", session_id).stdout

    table = shown[shown.index("Who spoke") : shown.index("Transcript")]
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:5]]
            for line in table.splitlines() if line.count("│") == 5 and "speaker" not in line}
    assert rows == {"Speaker 1": ["02:00", "75%", "2"], "Amara": ["00:40", "25%", "2"]}
