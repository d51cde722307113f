"""Progress a user can follow: long steps report as they go, and the command line shows it whether
standard error is a terminal (bars) or a pipe or a log (plain lines)."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import text

from insightcap.cli import progress as cli_progress
from insightcap.cli.progress import _StageLines, _TimeLeftColumn, run_with_progress
from insightcap.jobs import stages as stage_module
from insightcap.jobs.stages import Stage, StageContext
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.transcript.schema import Segment, Transcript


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(console: Console) -> list[str]:
    return console.file.getvalue().splitlines()


def test_plain_lines_mark_start_end_and_at_most_each_tenth_and_half_minute() -> None:
    clock, console = _Clock(), Console(file=io.StringIO(), width=60)
    lines = _StageLines(console, ["decode", "transcribe", "structure", "embed"], {"decode"}, clock=clock)
    lines.report("transcribe", 0.0, "Transcribing")
    for second in range(1, 421):  # 7 minutes, a report a second
        clock.now += 1
        lines.report("transcribe", second / 420, f"{second} s of audio, about {420 - second} s left")
    clock.now += 3
    lines.report("structure", 0.0, "Finding insights")  # the runner starts a stage once the one before is done
    clock.now += 1
    lines.report("structure", 0.9, "Selecting insights")
    for worded in range(1, 211):  # a bar that does not move for three and a half minutes
        clock.now += 1
        lines.report("structure", 0.9, f"Wording commitment {worded}")
    lines.settle(["decode", "transcribe"])

    shown = _lines(console)
    assert shown[:2] == ["Checking audio: done in an earlier run", "Transcribing: started"]
    progress_lines = [line for line in shown if re.match(r"Transcribing: \d+% ", line)]
    # A line per tenth at most, and none closer than half a minute: 7 minutes give 9, not 420.
    assert len(progress_lines) == 9
    assert progress_lines[0] == "Transcribing: 10% 42 s of audio, about 378 s left"
    assert "Transcribing: done in 0:07:03" in shown
    # A still bar gets a line now and then, with what the stage is doing, so the log never looks stuck.
    assert [line for line in shown if line.startswith("Finding insights: 90%")] == [
        "Finding insights: 90% Wording commitment 29", "Finding insights: 90% Wording commitment 149"]
    assert shown[-2:] == ["Finding insights: failed after 0:03:31, see the error below", "Indexing insights: not run"]
    assert not any("━" in line for line in shown)


def test_a_stage_done_is_shown_with_its_time_and_never_as_progress_of_100() -> None:
    clock, console = _Clock(), Console(file=io.StringIO())
    lines = _StageLines(console, ["memo"], set(), clock=clock)
    lines.report("memo", 0.0, "Drafting memo")
    clock.now += 95
    lines.report("memo", 1.0, "Memo saved")
    lines.settle(["memo"])
    assert _lines(console) == ["Drafting memo: started", "Drafting memo: done in 0:01:35"]


@pytest.fixture
def quick_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stages that only report: these tests are about what the command line shows."""

    def make(name: str) -> Stage:
        def run(ctx: StageContext) -> None:
            ctx.progress(0.5, f"{name} half way")

        return Stage(name, stage_module.STAGES[name].label, run)

    monkeypatch.setattr(stage_module, "STAGES", {name: make(name) for name in stage_module.MEDIA_STAGES})
    monkeypatch.setattr("insightcap.jobs.runner.STAGES", stage_module.STAGES)


def _job(settings) -> str:
    from test_jobs import _job as session_and_job

    return session_and_job(settings)[1]


def test_a_job_followed_through_a_pipe_is_written_as_lines(settings, quick_stages, monkeypatch) -> None:
    piped = Console(file=io.StringIO(), width=80)
    assert not piped.is_terminal
    monkeypatch.setattr(cli_progress, "err", piped)
    run_with_progress(settings, _job(settings))
    shown = _lines(piped)
    for label in ("Checking audio", "Transcribing", "Identifying speakers", "Finding insights",
                  "Indexing insights", "Drafting memo"):
        assert f"{label}: started" in shown
        assert any(re.fullmatch(rf"{label}: done in 0:00:0\d", line) for line in shown), shown


def test_a_job_followed_in_a_terminal_has_bars(settings, quick_stages, monkeypatch) -> None:
    terminal = Console(file=io.StringIO(), width=120, force_terminal=True)
    monkeypatch.setattr(cli_progress, "err", terminal)
    run_with_progress(settings, _job(settings))
    drawn = terminal.file.getvalue()
    assert "━" in drawn and "Drafting memo" in drawn and "started" not in drawn


def test_the_time_left_column_estimates_from_the_bar_and_defers_to_the_stage() -> None:
    clock = _Clock()
    column = _TimeLeftColumn()
    with Progress(get_time=clock, console=Console(file=io.StringIO())) as bar:
        task_id = bar.add_task("Finding insights", total=1.0, message="")
        clock.now += 1
        bar.update(task_id, completed=0.1)
        assert column.render(bar.tasks[task_id]).plain == ""  # one sample: no speed yet
        for _ in range(9):
            clock.now += 2
            bar.update(task_id, advance=0.05, message="Embedded 512 of 2412 sentences")
        task = bar.tasks[task_id]
        assert column.render(task).plain == "less than a minute left"  # 0.45 done in 18 s
        bar.update(task_id, message="1:00:54 / 2:30:15 of audio, about 4 min left")
        assert column.render(bar.tasks[task_id]).plain == ""  # transcription says it itself
        bar.stop_task(task_id)
        assert column.render(bar.tasks[task_id]).plain == ""


class _WordingGenerator:
    """Stands for the local text generator: words every task alike."""

    name = "scripted"

    def __init__(self) -> None:
        self.asked = 0

    def chat(self, system: str, user: str, max_tokens: int = 96, temperature: float = 0.2) -> str:
        self.asked += 1
        return "send the template"


def test_finding_insights_reports_each_commitment_it_words(settings) -> None:
    from insightcap.insights.structure import extract_insights

    said = [("Maria", "I'll send you the template by Friday."),
            ("Tom", "I will book the room for the next session by Monday."),
            ("Ana", "What do you think we should do about the battery life of the remote control?")]
    segments = [Segment(start=4.0 * i, end=4.0 * i + 3.5, text=words, speaker=who)
                for i, (who, words) in enumerate(said)]
    generator = _WordingGenerator()
    heard: list[tuple[float, str]] = []
    extract_insights(Transcript(segments=segments, duration=12.0), settings, session_date=date(2026, 11, 23),
                     progress=lambda fraction, message="": heard.append((fraction, message)),
                     generator=generator)
    wording = [(fraction, message) for fraction, message in heard if message.startswith("Wording commitment")]
    assert generator.asked >= 1
    assert wording == [(0.9, f"Wording commitment {n}") for n in range(1, len(wording) + 1)]
    assert len(wording) >= 1
    messages = [message for _, message in heard]
    assert messages.index("Selecting insights") < messages.index(wording[0][1]) < len(messages) - 1


def test_indexing_reports_each_batch_and_lets_the_job_be_written_meanwhile(settings, monkeypatch) -> None:
    """Progress is stored on the job row as it comes: embedding must not hold the database's write
    lock, or each report would wait for it (and give up after the busy timeout)."""
    from web_fixtures import ZOOM_VTT

    from insightcap.search import indexing
    from insightcap.transcript.importers import import_transcript

    monkeypatch.setattr(indexing, "EMBEDDING_BATCH", 2)
    session_id = repo.new_id()
    with session_scope(settings) as db:
        repo.create_session(db, session_id=session_id, title="Feedback circle", source_kind="transcript",
                            original_filename="zoom.vtt", stored_path="media/none/zoom.vtt")
        repo.save_output(db, session_id, "transcript", import_transcript(ZOOM_VTT))
    heard: list[tuple[float, str]] = []

    def store(fraction: float, message: str = "") -> None:
        heard.append((fraction, message))
        with session_scope(settings) as db:  # as the job runner stores progress
            db.execute(text("UPDATE sessions SET title = title WHERE id = :id"), {"id": session_id})

    assert indexing.index_session(settings, session_id, store) > 0
    batches = [(fraction, message) for fraction, message in heard if message.startswith("Embedded ")]
    assert len(batches) >= 2
    assert all(0.0 < fraction <= 0.8 for fraction, _ in batches)
    assert [fraction for fraction, _ in batches] == sorted(fraction for fraction, _ in batches)
    assert re.fullmatch(r"Embedded (\d+) of \1 passages and insights", batches[-1][1])
