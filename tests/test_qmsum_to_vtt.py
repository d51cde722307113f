"""QMSum meetings written as WebVTT come back through `import_transcript` with speakers and turns intact."""

from __future__ import annotations

import subprocess
import sys
from itertools import groupby
from pathlib import Path

import pytest

from eval.qmsum_to_vtt import clean_turn_text, load_meeting, qmsum_meeting_to_vtt
from insightcap.transcript.importers import import_transcript

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("I didn't receive it yet {vocalsound} .", "I didn't receive it yet."),
        ("OK , we 're on . So just make sure", "OK, we're on. So just make sure"),
        ("is to {disfmarker} so that we do n't", "is to so that we don't"),
        ("{gap} {vocalsound} {gap} .", ""),
        (".. .", ""),
    ],
)
def test_turn_text_loses_markers_and_tokenised_spacing(raw: str, clean: str) -> None:
    assert clean_turn_text(raw) == clean


def test_meeting_round_trips_through_import(shared_eval: Path, tmp_path: Path) -> None:
    meeting = load_meeting(shared_eval, "ES2006a")
    vtt = qmsum_meeting_to_vtt(meeting, max_turns=None)
    path = tmp_path / "ES2006a.vtt"
    path.write_text(vtt, encoding="utf-8")

    transcript = import_transcript(path)

    spoken = [(turn["speaker"], clean_turn_text(turn["text"])) for turn in meeting["turns"]]
    spoken = [(speaker, text) for speaker, text in spoken if text]
    assert 0 < len(spoken) < meeting["n_turns"]  # some turns are only markers and are skipped
    assert vtt.count("\nturn-") == len(spoken)
    assert "{" not in vtt
    assert set(transcript.speakers) == {"Project Manager", "Marketing", "Industrial Designer", "User Interface"}
    # Turns survive, except that one speaker's turns left adjacent by a skipped turn may merge.
    turns_by_speaker_change = [speaker for speaker, _ in groupby(speaker for speaker, _ in spoken)]
    assert [speaker for speaker, _ in groupby(s.speaker for s in transcript.segments)] == turns_by_speaker_change
    assert len(turns_by_speaker_change) <= len(transcript.segments) <= len(spoken)
    assert transcript.text == " ".join(text for _, text in spoken)
    # Synthetic times: 0.3 s between turns.
    gaps = [after.start - before.end for before, after in zip(transcript.segments, transcript.segments[1:])]
    assert all(gap == pytest.approx(0.3, abs=0.002) for gap in gaps)


def test_max_turns_and_training_meetings(shared_eval: Path) -> None:
    meeting = load_meeting(shared_eval, "Bdb001")  # in qmsum/train_extra only
    vtt = qmsum_meeting_to_vtt(meeting, max_turns=10)
    cue_ids = [line for line in vtt.splitlines() if line.startswith("turn-")]
    assert cue_ids and all(int(cue_id.removeprefix("turn-")) < 10 for cue_id in cue_ids)


def test_command_writes_the_file_and_prints_its_path(shared_eval: Path, tmp_path: Path) -> None:
    out = tmp_path / "meeting.vtt"
    result = subprocess.run(
        [sys.executable, "-m", "eval.qmsum_to_vtt", "--data", str(shared_eval), "--meeting", "ES2006a",
         "--out", str(out), "--max-turns", "20"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == str(out)
    assert import_transcript(out).speakers
