"""The real `insightcap` command, run as a user would, on real recordings and transcripts."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from insightcap.config import Settings
from insightcap.memo.render import format_timestamp
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def cli(data_dir: Path, *args: str, generator: str = "none", check: bool = True,
        columns: int = 160, typed: str | None = None) -> subprocess.CompletedProcess:
    """Run `insightcap ARGS`; `typed` is what the user types at its prompts (None: the test's own input)."""
    env = {**os.environ, "INSIGHTCAP_DATA_DIR": str(data_dir), "INSIGHTCAP_ASR_MODEL": "whisper-tiny-en",
           "INSIGHTCAP_GENERATOR": generator, "COLUMNS": str(columns)}
    result = subprocess.run([sys.executable, "-m", "insightcap", *args], capture_output=True, text=True, env=env,
                            timeout=900, input=typed, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"insightcap {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def sessions(data_dir: Path) -> list[dict]:
    return json.loads(cli(data_dir, "sessions", "--json").stdout)


def es2009d_captions(folder: Path, shared_eval: Path, turns: int) -> Path:
    """The first `turns` turns of AMI ES2009d as a WebVTT caption file, as a user would import it."""
    vtt = folder / "es2009d.vtt"
    subprocess.run([sys.executable, "-m", "eval.qmsum_to_vtt", "--data", str(shared_eval), "--meeting", "ES2009d",
                    "--max-turns", str(turns), "--out", str(vtt)], check=True, cwd=REPO, capture_output=True)
    return vtt


@pytest.mark.slow
def test_process_a_real_meeting_recording_end_to_end(tmp_path: Path) -> None:
    """The README's main job, with the fast ASR model and the real local text generator."""
    data = tmp_path / "data"
    result = cli(data, "process", str(EXAMPLES / "team-retrospective.ogg"), "--title", "Team retrospective",
                 "--program", "Demo circle", "--date", "2026-11-20", generator="auto")
    session_id = result.stdout.strip().splitlines()[-1]
    listed = sessions(data)
    assert [(s["id"], s["title"], s["status"]) for s in listed] == [(session_id, "Team retrospective", "ready")]
    assert listed[0]["duration_seconds"] == pytest.approx(241.4, abs=1.0)
    for stage in ("Checking audio", "Transcribing", "Identifying speakers", "Finding insights", "Indexing insights", "Drafting memo"):
        assert stage in result.stderr

    memo_md = cli(data, "memo", session_id[:6], "--format", "md").stdout
    assert "Team retrospective" in memo_md
    assert memo_md.count("?") >= 2  # follow-up questions after the themes
    assert (data / "exports" / session_id / "memo.md").read_text() == memo_md
    memo_html = cli(data, "memo", session_id, "--format", "html").stdout
    assert memo_html.lstrip().lower().startswith("<!doctype html")

    shown = cli(data, "show", session_id).stdout.lower()
    # The recording's words are in the transcript (synthetic voices: allow for a few misheard words).
    spoken = ["technology", "process", "whiteboard", "creativity", "teamwork", "roles", "coach"]
    assert sum(word in shown for word in spoken) >= 4


@pytest.mark.slow
def test_process_real_speech_reports_language_and_words(tmp_path: Path) -> None:
    data = tmp_path / "data"
    processed = cli(data, "process", str(EXAMPLES / "jfk-inaugural-excerpt.flac"))
    session_id = processed.stdout.strip().splitlines()[-1]
    assert "Not in a program, so it joins no program's themes" in " ".join(processed.stderr.split())
    with sqlite3.connect(data / "insightcap.db") as db:
        payload = json.loads(db.execute(
            "SELECT payload FROM stage_outputs WHERE session_id=? AND stage='transcript'", (session_id,)).fetchone()[0])
    assert payload["language"] == "en"
    words = [w for s in payload["segments"] for w in s["words"]]
    assert "country" in " ".join(w["text"].lower() for w in words)
    assert all(s["start"] <= w["start"] <= w["end"] <= s["end"] + 0.01 for s in payload["segments"] for w in s["words"])


def test_import_a_transcript_and_get_its_memo(tmp_path: Path, shared_eval: Path) -> None:
    data = tmp_path / "data"
    vtt = es2009d_captions(tmp_path, shared_eval, turns=220)
    result = cli(data, "import", str(vtt), "--title", "Retro from captions", "--date", "2026-11-20",
                 "--program", "Design team")
    session_id = result.stdout.strip().splitlines()[-1]
    assert sessions(data)[0]["status"] == "ready" and "Not in a program" not in result.stderr
    memo = cli(data, "memo", session_id).stdout
    # Lengths and moments read the same in the summary, `show` and the memo: cut to the second, not rounded.
    length = re.search(r"\*\*Length:\*\* (\S+)", memo).group(1)
    assert re.search(rf"│ Duration\s+│ {length}\s+│", result.stdout)
    with sqlite3.connect(data / "insightcap.db") as db:
        segments = json.loads(db.execute("SELECT payload FROM stage_outputs WHERE session_id=? AND stage='transcript'",
                                          (session_id,)).fetchone()[0])["segments"][:40]
    assert any(round(segment["start"]) != int(segment["start"]) for segment in segments)
    shown = cli(data, "show", session_id, "--lines", "40").stdout.split("Transcript", 1)[1].split("Theme:", 1)[0]
    assert re.findall(r"^(\d\d:\d\d) ", shown, re.MULTILINE) == [format_timestamp(segment["start"]) for segment in segments]
    assert "Retro from captions" in memo
    assert "Project Manager" in memo  # speakers from the caption file are kept

    found = cli(data, "search", "speech recognition in the remote").stdout
    assert f"{session_id} at" in found and "voice recognition" in found.lower()
    # A stretch of transcript is credited to everyone speaking in it, never to one of them alone.
    said = [" ".join(hit.split()) for hit in cli(data, "search", "remote", "--section", "transcript", "--speaker",
                                                 "marketing").stdout.split("Retro from captions (")[1:]]
    credited = [re.search(r"\) transcript (.+?): ", hit).group(1) for hit in said]
    assert credited and all(who == "Marketing" or who.startswith("conversation between") and "Marketing" in who
                            for who in credited)
    assert any(who.startswith("conversation between") for who in credited)
    commitments = cli(data, "search", "remote", "--section", "Commitments").stdout.split("Retro from captions (")[1:]
    assert commitments and all(") action_item " in hit for hit in commitments)
    unknown = cli(data, "search", "remote", "--section", "decisions", check=False)
    assert unknown.returncode == 1 and "No matches" not in unknown.stdout
    assert "There is no section 'decisions'. Choose one of: context, idea, strategy, resource, action_item" in unknown.stderr
    nobody = cli(data, "search", "remote", "--speaker", "marketting", check=False)
    assert nobody.returncode == 1 and "Did you mean 'Marketing'?" in " ".join(nobody.stderr.split())
    assert "No themes yet" not in cli(data, "themes", "Design team").stdout
    assert "Error" in cli(data, "themes", "No such program", check=False).stderr


def test_a_program_drafts_its_memos_with_its_own_template(tmp_path: Path, shared_eval: Path) -> None:
    data = tmp_path / "data"
    mistyped = cli(data, "template", "Design team", check=False)
    assert mistyped.returncode == 1 and "No program 'Design team'" in mistyped.stderr
    assert "add --new-program" in " ".join(mistyped.stderr.split()) and not (data / "templates").exists()
    made = cli(data, "template", "Design team", "--new-program")
    folder = data / "templates" / "design-team"
    assert "a copy of the default" in made.stdout
    assert (folder / "memo.md.j2").read_text() == (REPO / "web" / "templates" / "memo" / "memo.md.j2").read_text()
    (folder / "memo.md.j2").write_text("{{ memo.title }} for {{ memo.program }}: {{ memo.themes | length }} themes\n")
    assert "already there, left as it is" in cli(data, "template", "design team").stdout

    vtt = es2009d_captions(tmp_path, shared_eval, turns=60)
    first = cli(data, "import", str(vtt), "--title", "Kick-off", "--program", "Design team").stdout.splitlines()[-1]
    # The same file again (a script or `make demo` run twice) gives the same session, not a second copy.
    again = cli(data, "import", str(vtt), "--title", "Kick-off again", "--program", "design team")
    assert again.stdout.splitlines()[-1] == first and "already added to Design team" in again.stderr
    assert [s["title"] for s in sessions(data)] == ["Kick-off"]
    assert re.fullmatch(r"Kick-off for Design team: \d+ themes\n", cli(data, "memo", first).stdout)
    # The program's HTML template (here the default's copy) lays out the unedited memo.
    assert "<h2>Key themes</h2>" in cli(data, "memo", first, "--format", "html").stdout

    # A broken template stops the memo with where it is broken and what to do; nothing else is lost.
    (folder / "memo.md.j2").write_text("{{ memo.title \n")
    (tmp_path / "later").mkdir()
    longer = es2009d_captions(tmp_path / "later", shared_eval, turns=80)  # a program takes a file once
    failed = cli(data, "import", str(longer), "--title", "Second", "--program", "Design team", check=False)
    second = next(s["id"] for s in sessions(data) if s["title"] == "Second")
    assert failed.returncode != 0 and "memo.md.j2 (line 1) cannot be used" in failed.stderr
    assert f"insightcap retry {second}" in failed.stderr
    # Its progress says it failed, not that the memo was drafted; the stages before it are done.
    # (Standard error is not a terminal here: progress comes as plain lines, the last one per stage.)
    assert re.fullmatch(r"Drafting memo: failed after \d:\d\d:\d\d, see the error below",
                        last_line_of(failed, "Drafting memo"))
    assert re.fullmatch(r"Indexing insights: done in \d:\d\d:\d\d", last_line_of(failed, "Indexing insights"))
    # So does the job the web app shows: the stage is not at 100% when its template fails.
    with session_scope(Settings(data_dir=data)) as db:
        job = repo.jobs_for_session(db, second)[-1]
        assert job.stage == "memo" and job.progress < 1.0
    (folder / "memo.md.j2").unlink()  # back to the default
    retried = cli(data, "retry", second)
    assert "## Key themes" in cli(data, "memo", second).stdout
    # Stages done by the first run are not run again, and have no clock of their own.
    for stage in ("Finding insights", "Indexing insights"):
        assert last_line_of(retried, stage) == f"{stage}: done in an earlier run"
    assert re.fullmatch(r"Drafting memo: done in \d:\d\d:\d\d", last_line_of(retried, "Drafting memo"))


def last_line_of(run: subprocess.CompletedProcess, stage: str) -> str:
    """The last progress line of `stage`: how the run left it."""
    return [line for line in run.stderr.splitlines() if line.startswith(f"{stage}: ")][-1]


def test_models_names_the_packages_of_every_model_and_those_in_use(tmp_path: Path) -> None:
    from insightcap.weights import load_manifest

    listed = cli(tmp_path / "data", "models").stdout
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in listed.splitlines() if line.startswith("│")]
    # Recognition (tiny.en here), speakers, embeddings and language; not the generator, as `cli` turns it off.
    assert {cells[0] for cells in rows if cells[4] == "yes"} == {"whisper-tiny-en", "ge2e-speaker", "minilm", "spacy-en-sm"}
    packages = {cells[2] for cells in rows}
    assert {package for spec in load_manifest().values() for package in spec.packages} <= packages
    assert ["ge2e-speaker", "speaker", "resemblyzer==0.1.4"] == next(cells[:3] for cells in rows if cells[0] == "ge2e-speaker")


def test_bad_inputs_are_rejected_with_clear_errors_and_nothing_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    broken = tmp_path / "meeting.vtt"
    broken.write_text("WEBVTT\n\nthis is not a cue\n")

    rejected_media = cli(data, "process", str(pdf), check=False)
    rejected_transcript = cli(data, "import", str(broken), check=False)
    missing = cli(data, "process", str(tmp_path / "nope.wav"), check=False)

    assert rejected_media.returncode == 1 and "not audio or video" in rejected_media.stderr
    assert rejected_transcript.returncode == 1 and "meeting.vtt" in rejected_transcript.stderr
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in rejected_media.stderr + rejected_transcript.stderr
    assert sessions(data) == []
    assert not any((data / "media").iterdir())


def test_ids_and_dates_stay_whole_in_an_80_column_terminal(tmp_path: Path) -> None:
    from datetime import date

    from insightcap.storage.search_tables import ThemeRecord

    data = tmp_path / "data"
    title = "How a mentoring cohort keeps its newest members engaged through a long and busy spring " * 2
    with session_scope(Settings(data_dir=data)) as db:
        record = repo.create_session(db, session_id=repo.new_id(), title=title, source_kind="media",
                                     original_filename="a.wav", stored_path="media/x/a.wav",
                                     program="Mentoring cohort of the long spring season", session_date=date(2025, 3, 7))
        record.duration_seconds, session_id = 3725.0, record.id
        db.add(ThemeRecord(program_id=record.program_id, label="Keeping members engaged when feedback arrives late " * 2,
                           centroid=b"\0" * 4, first_seen=date(2025, 1, 14), last_seen=date(2025, 3, 7), count=12))

    listed = cli(data, "sessions", columns=80).stdout
    assert max(len(line) for line in listed.splitlines()) <= 80
    assert re.search(rf"│ {session_id} │ .+ │ 2025-03-07 │ 1:02:05\s+│ \w+\s+│", listed)
    assert "…" not in listed and "engaged" in listed  # the title folds onto more lines instead of being cut
    themes = cli(data, "themes", "mentoring cohort of the long spring season", columns=80).stdout
    assert "seen 2025-01-14 → 2025-03-07" in " ".join(themes.split()) and "…" not in themes


def command_paths(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of the `insightcap` command tree, as the words that run it."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += command_paths(sub, (*path, name))
    return found


def test_help_shows_flags_as_flags_and_arguments_in_capitals(tmp_path: Path) -> None:
    import typer.main
    from typer.testing import CliRunner

    from insightcap.cli import app

    data = tmp_path / "data"
    listing = cli(data, "sessions", "--help").stdout
    assert re.search(r"│ --json\s+Print JSON for scripts\.", listing)
    assert "Usage: insightcap process [OPTIONS] RECORDING" in cli(data, "process", "--help").stdout
    assert "Usage: insightcap token list [OPTIONS] [EMAIL]" in cli(data, "token", "list", "--help").stdout
    # Options that take a value still say which.
    assert re.search(r"│ --output\s+-o\s+<path>", cli(data, "memo", "--help").stdout)
    # A flag takes no value, whatever the help of any command shows.
    refused = cli(data, "sessions", "--json", "true", check=False)
    assert refused.returncode == 2 and "unexpected extra argument" in refused.stderr
    runner = CliRunner()
    paths = command_paths(typer.main.get_command(app))
    assert ("memo",) in paths and ("user", "add") in paths
    for path in paths:
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}, prog_name="insightcap").output
        usage = next(line for line in shown.splitlines() if "Usage:" in line)
        assert "<bool>" not in shown and "{" not in usage, f"insightcap {' '.join(path)} --help:\n{shown}"


def test_a_missing_argument_is_named_as_the_usage_line_writes_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from insightcap.cli import app

    missing = cli(tmp_path / "data", "process", check=False)
    assert missing.returncode == 2 and "Missing argument 'RECORDING'." in missing.stderr
    assert "Usage: insightcap process [OPTIONS] RECORDING" in missing.stderr
    for command, argument in ((["themes"], "PROGRAM"), (["user", "add"], "EMAIL"), (["memo"], "SESSION")):
        shown = CliRunner().invoke(app, command, env={"COLUMNS": "200"}, prog_name="insightcap").output
        assert f"Missing argument '{argument}'." in shown, shown


def session_with_memo(data: Path, title: str) -> str:
    """A session whose memo is saved, made without processing anything: what `memo` reads."""
    with session_scope(Settings(data_dir=data)) as db:
        record = repo.create_session(db, session_id=repo.new_id(), title=title, source_kind="transcript",
                                     original_filename="a.vtt", stored_path="media/x/a.vtt")
        repo.add_memo_version(db, record.id, f"# {title}\n\n## Key themes\n\nThe remote needs fewer buttons.\n")
        return record.id


def test_memo_output_makes_missing_folders_and_names_a_file_in_a_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    session_id = session_with_memo(data, "Design review: remote")

    nested = tmp_path / "not yet" / "there" / "memo.docx"
    written = cli(data, "memo", session_id, "-f", "docx", "-o", str(nested))
    assert nested.read_bytes().startswith(b"PK") and f"Memo written to {nested}" in written.stderr
    folder = tmp_path / "memos"
    folder.mkdir()
    cli(data, "memo", session_id[:6], "-f", "html", "-o", str(folder))
    assert [path.name for path in folder.iterdir()] == ["Design_review_remote-memo-draft.html"]
    assert "fewer buttons" in (folder / "Design_review_remote-memo-draft.html").read_text()
    with session_scope(Settings(data_dir=data)) as db:  # approved, the memo members read has no "-draft"
        repo.set_memo_status(db, session_id, "approved", 1, by="fac@example.org")
    cli(data, "memo", session_id, "-f", "md", "-o", str(folder))
    assert (folder / "Design_review_remote-memo.md").is_file()
    cli(data, "show", session_id[:6])
    cli(data, "search", "buttons")
    # The command line's reads are on record, by the session's full id, as the web app's are.
    from insightcap.auth import audit

    with session_scope(Settings(data_dir=data)) as db:
        logged = [(entry.action, entry.target, entry.detail) for entry in reversed(audit.recent(db))]
    assert logged == [("export_memo", session_id, "docx"), ("export_memo", session_id, "html"),
                      ("export_memo", session_id, "md"), ("view_session", session_id, ""), ("search", "", "buttons")]

    (tmp_path / "notes.md").write_text("mine")
    refused = cli(data, "memo", session_id, "-o", str(tmp_path / "notes.md" / "memo.md"), check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"Could not write {tmp_path / 'notes.md' / 'memo.md'}" in " ".join(refused.stderr.split())
    assert (tmp_path / "notes.md").read_text() == "mine"


def said(run: subprocess.CompletedProcess) -> str:
    """What the command wrote to standard error, as one line: rich wraps long messages (in a box for
    typer's usage errors) to the terminal's width."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", run.stderr).split())


def test_memo_takes_its_format_from_the_file_name_and_makes_a_folder_ending_in_a_slash(tmp_path: Path) -> None:
    data = tmp_path / "data"
    session_id = session_with_memo(data, "Design review: remote")
    exports = tmp_path / "exports"

    for name, start in (("memo.docx", b"pk"), ("memo.pdf", b"%pdf"), ("memo.html", b"<!doctype html"),
                        ("memo.md", b"# design review"), ("memo.txt", b"# design review")):
        cli(data, "memo", session_id, "-o", str(exports / name))
        assert (exports / name).read_bytes().lstrip().lower().startswith(start), name

    mismatch = cli(data, "memo", session_id, "-f", "docx", "-o", str(exports / "other.html"), check=False)
    assert mismatch.returncode == 1
    assert "-f docx does not match other.html, whose .html is the html format. Give -f html (or leave -f out), " \
           "or name the file other.docx." in said(mismatch)
    unknown = cli(data, "memo", session_id, "-o", str(exports / "other.doc"), check=False)
    assert unknown.returncode == 1 and "other.doc ends in .doc, which is not a memo format" in said(unknown)
    assert "give -f with one of md, html, docx, pdf" in said(unknown)
    assert not (exports / "other.html").exists() and not (exports / "other.doc").exists()
    cli(data, "memo", session_id, "-f", "html", "-o", str(exports / "other.doc"))  # -f says what the name cannot
    assert (exports / "other.doc").read_text().lstrip().lower().startswith("<!doctype html")

    # A name ending in a slash is a folder to make, as an existing folder is one to write into.
    written = cli(data, "memo", session_id, "-o", f"{tmp_path / 'new' / 'memos'}/")
    assert [path.name for path in (tmp_path / "new" / "memos").iterdir()] == ["Design_review_remote-memo-draft.md"]
    assert "Memo written to" in written.stderr and "Design_review_remote-memo-draft.md" in said(written)
    cli(data, "memo", session_id, "-f", "docx", "-o", f"{tmp_path / 'word'}/")
    assert (tmp_path / "word" / "Design_review_remote-memo-draft.docx").read_bytes().startswith(b"PK")


def test_a_mistyped_option_value_is_refused_in_plain_words(tmp_path: Path) -> None:
    data = tmp_path / "data"
    session_id = session_with_memo(data, "Design review: remote")

    for lines in ("abc", "-2", "4.5"):
        refused = cli(data, "show", session_id, "--lines", lines, check=False)
        assert refused.returncode == 2 and f"'{lines}' is not a whole number: --lines takes how many transcript " \
               "lines to show, e.g. 40 (0 shows them all)." in said(refused)
        assert "Input should be" not in refused.stderr
    for command in (["search", "remote", "--limit", "ten"], ["audit", "--limit", "ten"],
                    ["process", "x.wav", "--speakers", "ten"], ["serve", "--port", "ten"]):
        refused = cli(data, *command, check=False)
        assert refused.returncode == 2 and "'ten' is not a whole number: " in said(refused), command
        assert "Input should be" not in refused.stderr
    no_format = cli(data, "memo", session_id, "-f", "doc", check=False)
    assert no_format.returncode == 2
    assert "'doc' is not a memo format: -f takes one of md, html, docx, pdf." in said(no_format)
    assert "Value error" not in no_format.stderr
    assert cli(data, "memo", session_id, "-f", "HTML").stdout.lstrip().lower().startswith("<!doctype html")


def test_an_ambiguous_or_empty_session_id_says_which_sessions_to_pick_from(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with session_scope(Settings(data_dir=data)) as db:
        for number in range(7):
            repo.create_session(db, session_id=f"ab{number}c00000000", title=f"Circle [{number}]",
                                source_kind="transcript", original_filename="a.vtt", stored_path="media/x/a.vtt")

    ambiguous = cli(data, "show", "a", check=False)
    assert ambiguous.returncode == 1
    listed = [line.strip() for line in ambiguous.stderr.splitlines()]
    assert listed == ["Error: 'a' matches 7 sessions; give more characters of the id:",
                      *(f"ab{number}c00000000  Circle [{number}]" for number in range(5)), "and 2 more"]
    assert cli(data, "memo", "ab", check=False).stderr == ambiguous.stderr.replace("'a'", "'ab'")
    for empty in ("", " "):
        nothing = cli(data, "show", empty, check=False)
        assert nothing.returncode == 1
        assert said(nothing) == "Error: Give a session id (or its first characters). Run `insightcap sessions` to list them."
    assert "matches" not in cli(data, "forget", "", "--yes", check=False).stderr
    assert len(sessions(data)) == 7


def test_a_session_whose_processing_was_interrupted_says_how_to_finish_it(tmp_path: Path) -> None:
    """A killed `process` leaves its session "processing" with nothing processing it: every command
    that shows it says so, and how to carry on, instead of sending the user round in a circle."""
    data = tmp_path / "data"
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    with session_scope(Settings(data_dir=data)) as db:
        record = repo.create_session(db, session_id="c2c2c2c2c2c2", title="Week 2", source_kind="transcript",
                                     original_filename="c2.vtt", stored_path="media/c2c2c2c2c2c2/c2.vtt")
        record.status = "processing"
        job = repo.create_job(db, record.id, ["structure", "embed", "memo"])
        job.status, job.stage, job.worker = "running", "embed", f"{socket.gethostname()}:{finished.pid}"

    hint = "Processing was interrupted: run `insightcap resume` to finish it from where it stopped."
    listed = cli(data, "sessions").stdout
    assert "interrupted" in listed and "processing" not in listed and " ".join(listed.split()).endswith(hint)
    assert sessions(data)[0]["interrupted"] is True
    shown = " ".join(cli(data, "show", "c2").stdout.split())
    assert shown.startswith("Week 2 (c2c2c2c2c2c2) — interrupted " + hint)
    no_memo = cli(data, "memo", "c2", check=False)
    assert no_memo.returncode == 1 and said(no_memo).endswith(hint)


def test_forget_answered_no_says_nothing_was_deleted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    session_id = session_with_memo(data, "Design review: remote")

    for typed in ("n\n", "\n", ""):  # no, Enter (the default is no), and no answer at all
        kept = cli(data, "forget", session_id, typed=typed, check=False)
        assert kept.returncode == 1 and kept.stderr.strip() == "Nothing was deleted.", repr(typed)
        assert "Aborted" not in kept.stdout + kept.stderr
    assert [s["id"] for s in sessions(data)] == [session_id]
    assert "Deleted session" in cli(data, "forget", session_id[:6], typed="y\n").stdout
    assert sessions(data) == []


def test_a_file_given_to_the_wrong_command_names_the_right_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    captions = tmp_path / "zoom captions.vtt"
    captions.write_bytes((REPO / "tests" / "fixtures" / "transcripts" / "zoom.vtt").read_bytes())
    recording = EXAMPLES / "jfk-inaugural-excerpt.flac"

    transcript_to_process = cli(data, "process", str(captions), check=False)
    recording_to_import = cli(data, "import", str(recording), check=False)

    assert transcript_to_process.returncode == 1 and recording_to_import.returncode == 1
    assert f"If it is a transcript (.vtt, .srt, or a Zoom/Teams transcript export), run `insightcap import " \
           f"'{captions}'`." in said(transcript_to_process)
    assert "Upload" not in transcript_to_process.stderr  # the web app's word
    assert f"is an audio file (run `insightcap process {recording}` to transcribe it), not a transcript" \
        in said(recording_to_import)
    assert sessions(data) == []


def test_a_folder_given_as_the_file_to_process_or_import_says_what_to_give(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = tmp_path / "recordings"
    folder.mkdir()

    media = cli(data, "process", str(folder), check=False)
    transcript = cli(data, "import", str(folder), check=False)

    assert media.returncode == 1 and transcript.returncode == 1
    assert f"{folder}/ is a folder; give a recording file (wav, mp3," in " ".join(media.stderr.split())
    assert f"{folder}/ is a folder; give a transcript file (.vtt, .srt," in " ".join(transcript.stderr.split())
    assert "does not exist" not in media.stderr + transcript.stderr
    assert sessions(data) == []


def test_a_mistyped_model_is_refused_before_a_session_is_made(tmp_path: Path) -> None:
    from insightcap.weights import load_manifest

    data = tmp_path / "data"
    speech = sorted(spec.name for spec in load_manifest().values() if spec.task == "asr")
    others = [spec.name for spec in load_manifest().values() if spec.task != "asr"]
    recording = str(EXAMPLES / "jfk-inaugural-excerpt.flac")

    typo = cli(data, "process", recording, "--model", "whisper-large", check=False)
    not_speech = cli(data, "process", recording, "--model", others[0], check=False)

    for refused in (typo, not_speech):
        said = " ".join(refused.stderr.split())
        assert refused.returncode == 1 and f"Choose --model from: {', '.join(speech)} " in said
        assert not any(other in said.split("Choose --model from:")[1] for other in others)
        assert "Transcribing" not in said and "created" not in said
    assert "Did you mean 'whisper-base'?" in " ".join(typo.stderr.split())
    assert sessions(data) == []
