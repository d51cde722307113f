"""The storage layer: migrations, sessions, stage outputs, insight rows, memo versions, files."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text

from insightcap.insights.schema import Insight, Section, SessionInsights, Topic
from insightcap.storage import repository as repo
from insightcap.storage.db import MIGRATIONS_DIR, engine_for, session_scope
from insightcap.storage.files import replacing, safe_filename, store_original
from insightcap.transcript.schema import Segment, Transcript


def _session(settings, title: str = "Circle 1") -> str:
    with session_scope(settings) as db:
        return repo.create_session(
            db, session_id=repo.new_id(), title=title, source_kind="media", original_filename="a.wav",
            stored_path="media/x/a.wav", program="Cohort A",
        ).id


def test_database_is_migrated_with_wal_and_foreign_keys(settings) -> None:
    with engine_for(settings).connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head


def _upgraded_from(tmp_path: Path, revision: str, *inserts: str) -> Engine:
    """A database migrated to `revision`, given old rows by the `inserts`, then upgraded to head.
    Foreign keys are off on its plain engine: the rows need no session row."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, revision)
    engine = create_engine(url)
    with engine.begin() as connection:
        for insert in inserts:
            connection.execute(text(insert))
    command.upgrade(config, "head")
    return engine


def test_the_search_columns_change_without_losing_rows_or_the_keyword_triggers(tmp_path: Path) -> None:
    """Migrations 0005 (a second vector) and 0006 (no single passage speaker) on a database of the
    version before them, holding an insight and a passage."""
    engine = _upgraded_from(
        tmp_path, "0004",
        "INSERT INTO insights (session_id, position, section, statement, quote, start, \"end\", topic_index, "
        "embedding) VALUES ('s1', 0, 'idea', 'Pair new members', 'we could pair them', 1, 2, 0, x'00')",
        "INSERT INTO passages (session_id, position, text, speaker, speakers, start, \"end\", first_segment, "
        "last_segment) VALUES ('s1', 0, 'Welcome, Sam here', 'Sam', '[\"Sam\", \"Maria\"]', 0, 9, 0, 1)",
    )
    with engine.begin() as connection:
        assert connection.execute(text("SELECT embedding, search_embedding FROM insights")).one() == (b"\x00", None)
        connection.execute(text("UPDATE insights SET quote = 'we could pair newcomers'"))
        assert connection.execute(text("SELECT rowid FROM search_text WHERE search_text MATCH 'newcomers'")).scalar()
        columns = {row[1] for row in connection.execute(text("PRAGMA table_info(passages)"))}
        assert "speaker" not in columns
        assert json.loads(connection.execute(text("SELECT speakers FROM passages")).scalar()) == ["Sam", "Maria"]
        connection.execute(text("UPDATE passages SET text = 'Welcome, Sam here with the mentors'"))
        assert connection.execute(text("SELECT rowid FROM search_text WHERE search_text MATCH 'mentors'")).scalar() == 2


def test_stage_output_round_trips_and_is_replaced_not_duplicated(settings) -> None:
    session_id = _session(settings)
    first = Transcript(segments=[Segment(start=0, end=2, text="Hello circle.", speaker="Ana")], duration=2)
    second = Transcript(segments=[Segment(start=0, end=3, text="Welcome back.", speaker="Ben")], duration=3)
    with session_scope(settings) as db:
        repo.save_output(db, session_id, "transcript", first)
    with session_scope(settings) as db:
        repo.save_output(db, session_id, "transcript", second)
    with session_scope(settings) as db:
        loaded = repo.load_output(db, session_id, "transcript", Transcript)
        count = db.execute(text("SELECT count(*) FROM stage_outputs")).scalar()
    assert loaded == second
    assert count == 1


def test_insight_rows_are_replaced_on_rerun(settings) -> None:
    session_id = _session(settings)
    insight = Insight(section=Section.IDEA, statement="Pair new members", quote="we could pair new members",
                      start=1.0, end=2.0, topic_index=0)
    insights = SessionInsights(topics=[Topic(index=0, title="Onboarding", start=0, end=2)], insights=[insight] * 3)
    with session_scope(settings) as db:
        repo.replace_insights(db, session_id, insights)
        repo.replace_insights(db, session_id, insights)
    with session_scope(settings) as db:
        assert len(repo.session_insight_rows(db, session_id)) == 3


def test_memo_versions_are_kept_and_numbered(settings) -> None:
    session_id = _session(settings)
    with session_scope(settings) as db:
        repo.add_memo_version(db, session_id, "# Draft")
        repo.add_memo_version(db, session_id, "# Edited", author="facilitator")
    with session_scope(settings) as db:
        latest = repo.latest_memo(db, session_id)
        assert (latest.version, latest.markdown, latest.author) == (2, "# Edited", "facilitator")


def test_session_lookup_by_prefix_and_helpful_not_found(settings) -> None:
    session_id = _session(settings)
    with session_scope(settings) as db:
        assert repo.get_session(db, session_id[:6]).id == session_id
        with pytest.raises(repo.NotFound, match="insightcap sessions"):
            repo.get_session(db, "zzzz")


def test_failed_transaction_leaves_nothing_half_saved(settings) -> None:
    with pytest.raises(RuntimeError):
        with session_scope(settings) as db:
            repo.create_session(db, session_id="abc", title="t", source_kind="media", original_filename="a",
                                stored_path="b")
            raise RuntimeError("crash mid-way")
    with session_scope(settings) as db:
        assert repo.list_sessions(db) == []


def test_store_original_is_atomic_and_sanitises_names(settings, tmp_path: Path) -> None:
    source = tmp_path / "rec.wav"
    source.write_bytes(b"RIFF" + b"\0" * 100)
    stored, content_sha256 = store_original(source, "s1", settings)
    assert (settings.data_dir / stored).read_bytes() == source.read_bytes()
    assert content_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert not [p for p in (settings.media_dir / "s1").iterdir() if p.name.startswith(".incoming")]
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\my talk.m4a") == "my_talk.m4a"


def test_a_replaced_file_is_old_or_new_never_partial(tmp_path: Path) -> None:
    target = tmp_path / "index" / "search.json"
    with replacing(target) as out:
        out.write(b'{"model": "old"}')
    with pytest.raises(OSError), replacing(target) as out:
        out.write(b'{"mod')
        assert target.read_bytes() == b'{"model": "old"}'  # readers still see the old file
        raise OSError("disk full")
    assert target.read_bytes() == b'{"model": "old"}'
    assert [path.name for path in target.parent.iterdir()] == ["search.json"]


def test_renaming_a_speaker_updates_the_draft_memo_by_whole_name(settings) -> None:
    session_id = _session(settings)
    with session_scope(settings) as db:
        repo.add_memo_version(db, session_id, "Speaker 1 said hi to Speaker 12.")
        repo.rename_speaker(db, session_id, "Speaker 1", "Maria", by="sam@example.org")
        repo.rename_speaker(db, session_id, "Speaker 1", "María", by="sam@example.org")
    with session_scope(settings) as db:
        assert repo.latest_memo(db, session_id).markdown == "María said hi to Speaker 12."
        assert repo.get_session(db, session_id).speaker_names == {"Speaker 1": "María"}
        assert sorted(v.author for v in repo.memo_versions(db, session_id)) == [
            "insightcap", "speaker names updated by sam@example.org", "speaker names updated by sam@example.org"]


def _two_speaker_session(settings, memo: str) -> str:
    """A session whose transcript has Priya and Aisha speaking, with a draft memo."""
    session_id = _session(settings)
    transcript = Transcript(segments=[Segment(start=0, end=2, text="Hi.", speaker="Priya"),
                                      Segment(start=2, end=4, text="Hello.", speaker="Aisha")], duration=4)
    with session_scope(settings) as db:
        repo.save_output(db, session_id, "transcript", transcript)
        repo.add_memo_version(db, session_id, memo)
    return session_id


def test_a_speaker_cannot_be_given_a_name_another_speaker_goes_by(settings) -> None:
    memo = "Participants: Priya, Aisha\n\n- “Aisha, I agree” — Priya [00:01]\n"
    session_id = _two_speaker_session(settings, memo)
    for taken in ("Aisha", " aisha "):
        with session_scope(settings) as db, pytest.raises(repo.SpeakerNameTaken, match="Choose a name"):
            repo.rename_speaker(db, session_id, "Priya", taken, by="sam@example.org")
    with session_scope(settings) as db:
        repo.rename_speaker(db, session_id, "Aisha", "Aisha Khan", by="sam@example.org")
    with session_scope(settings) as db, pytest.raises(repo.SpeakerNameTaken, match="transcript label “Aisha”"):
        repo.rename_speaker(db, session_id, "Priya", "AISHA KHAN", by="sam@example.org")
    with session_scope(settings) as db:
        assert repo.get_session(db, session_id).speaker_names == {"Aisha": "Aisha Khan"}
        assert repo.latest_memo(db, session_id).markdown == (
            "Participants: Priya, Aisha Khan\n\n- “Aisha, I agree” — Priya [00:01]\n")


def test_a_rename_knows_the_speakers_from_the_session_without_reading_its_transcript(settings, monkeypatch) -> None:
    from insightcap.auth.schema import local_operator
    from insightcap.web.views import Caller, rename_speaker

    session_id = _two_speaker_session(settings, "Participants: Priya, Aisha\n")
    read = repo.load_output

    def load_all_but_the_transcript(db, session_id, stage, model):
        assert stage != "transcript", "a rename parsed the whole transcript to learn who speaks"
        return read(db, session_id, stage, model)

    monkeypatch.setattr(repo, "load_output", load_all_but_the_transcript)
    caller = Caller(settings=settings, principal=local_operator())
    with pytest.raises(repo.SpeakerNameTaken, match="another speaker in this session is Aisha. Choose"):
        rename_speaker(caller, session_id, "Priya", " AISHA")
    with pytest.raises(repo.NotFound, match="^This session's transcript has no speaker called 'Nobody'.$"):
        rename_speaker(caller, session_id, "Nobody", "Sam")
    assert rename_speaker(caller, session_id, "Aisha", "Aisha Khan") == {"Aisha": "Aisha Khan"}
    with session_scope(settings) as db:
        assert repo.get_session(db, session_id).speaker_names == {"Aisha": "Aisha Khan"}
        assert repo.latest_memo(db, session_id).markdown == "Participants: Priya, Aisha Khan\n"


def test_renaming_a_speaker_leaves_quoted_words_as_they_were_said(settings) -> None:
    memo = "Priya opened.\n\n- Pairing helps — “Priya and I paired, Priya said” — Priya [00:01]\n"
    session_id = _two_speaker_session(settings, memo)
    with session_scope(settings) as db:
        repo.rename_speaker(db, session_id, "Priya", "Priya Shah", by="sam@example.org")
    with session_scope(settings) as db:
        assert repo.latest_memo(db, session_id).markdown == (
            "Priya Shah opened.\n\n- Pairing helps — “Priya and I paired, Priya said” — Priya Shah [00:01]\n")


def test_approval_records_the_approver_apart_from_the_author_and_reopening_clears_it(settings) -> None:
    session_id = _session(settings)
    with session_scope(settings) as db:
        repo.add_memo_version(db, session_id, "# Draft")
        repo.save_memo_edit(db, session_id, "# Edited", 1, author="sam@example.org")
        approved = repo.set_memo_status(db, session_id, "approved", 2, by="maria@example.org")
        assert (approved.author, approved.approved_by) == ("sam@example.org", "maria@example.org")
        assert approved.approved_at is not None
        again = repo.set_memo_status(db, session_id, "approved", 2, by="ben@example.org")
        assert again.approved_by == "maria@example.org"  # approving twice keeps the first approver
    with session_scope(settings) as db:
        reopened = repo.set_memo_status(db, session_id, "draft", 2, by="sam@example.org")
        assert (reopened.status, reopened.approved_by, reopened.approved_at) == ("draft", None, None)
        repo.save_memo_edit(db, session_id, "# Edited again", 2, author="sam@example.org")
        with pytest.raises(repo.MemoConflict) as stale:
            repo.set_memo_status(db, session_id, "approved", 2, by="maria@example.org")
        assert str(stale.value) == ("This memo changed since you opened it (latest version: 3). "
                                    "Review the latest version before approving it.")


def test_an_empty_memo_is_neither_saved_nor_approved(settings) -> None:
    session_id = _session(settings)
    with session_scope(settings) as db:
        repo.add_memo_version(db, session_id, "# Draft")
        for empty in ("", " \n\t"):
            with pytest.raises(repo.EmptyMemo, match="cannot be saved; the latest version is unchanged"):
                repo.save_memo_edit(db, session_id, empty, 1, author="sam@example.org")
        repo.add_memo_version(db, session_id, "  \n")  # e.g. written before empty saves were refused
        with pytest.raises(repo.EmptyMemo, match="cannot be approved"):
            repo.set_memo_status(db, session_id, "approved", 2, by="maria@example.org")
    with session_scope(settings) as db:
        assert [(v.version, v.status) for v in repo.memo_versions(db, session_id)] == [(2, "draft"), (1, "draft")]


def test_memo_approvers_are_added_and_earlier_approvals_taken_from_the_audit_trail(tmp_path: Path) -> None:
    """Migration 0007 on a database at 0006 holding an approved and a draft memo version."""
    engine = _upgraded_from(
        tmp_path, "0006",
        "INSERT INTO memo_versions (session_id, version, markdown, status, author, created_at) VALUES "
        "('s1', 1, '# Memo', 'approved', 'sam@example.org', '2024-05-01 10:00:00'), "
        "('s1', 2, '# Memo v2', 'draft', 'sam@example.org', '2024-05-02 10:00:00')",
        "INSERT INTO audit_events (at, actor, action, target, detail, client) VALUES "
        "('2024-05-01 11:00:00', 'maria@example.org', 'memo_approved', 's1', 'version 1', '')",
    )
    with engine.begin() as connection:
        rows = connection.execute(text(
            "SELECT version, markdown, author, approved_by, approved_at FROM memo_versions ORDER BY version")).all()
    assert rows == [(1, "# Memo", "sam@example.org", "maria@example.org", "2024-05-01 11:00:00"),
                    (2, "# Memo v2", "sam@example.org", None, None)]


def test_sessions_get_the_speakers_of_their_stored_transcript_in_order_of_first_speaking(tmp_path: Path) -> None:
    """Migration 0008 on a database at 0007 holding a session with a transcript and one without."""
    segments = [{"start": 0, "end": 1, "text": "Hi.", "speaker": "Sam"}, {"start": 1, "end": 2, "text": "Hello."},
                {"start": 2, "end": 3, "text": "Hey.", "speaker": "Ana"}, {"start": 3, "end": 4, "text": "So.", "speaker": "Sam"}]
    engine = _upgraded_from(
        tmp_path, "0007",
        "INSERT INTO sessions (id, title, status, source_kind, original_filename, stored_path, speaker_names, created_at, "
        "updated_at) VALUES ('s1', 'T', 'ready', 'media', 'a.wav', 'media/s1/a.wav', '{}', '2024-05-01', '2024-05-01'), "
        "('s2', 'U', 'queued', 'media', 'b.wav', 'media/s2/b.wav', '{}', '2024-05-01', '2024-05-01')",
        "INSERT INTO stage_outputs (session_id, stage, payload, created_at) VALUES "
        f"('s1', 'transcript', '{json.dumps({'segments': segments})}', '2024-05-01')",
    )
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT id, speakers FROM sessions ORDER BY id")).all()
    assert [(session_id, json.loads(speakers)) for session_id, speakers in rows] == [("s1", ["Sam", "Ana"]), ("s2", [])]


def test_a_program_name_matches_whatever_its_case_and_spacing(settings) -> None:
    _session(settings)  # in 'Cohort A'
    with session_scope(settings) as db:
        same = repo.get_or_create_program(db, "  cohort   a ")
        assert same.name == "Cohort A" and repo.program_by_name(db, "COHORT a").id == same.id
        other = repo.get_or_create_program(db, " Spring  circle ")
        assert other.name == "Spring circle"
        assert repo.get_or_create_program(db, "   ") is None
        assert [program.name for program in repo.list_programs(db)] == ["Cohort A", "Spring circle"]
        with pytest.raises(repo.NotFound) as unknown:
            repo.program_by_name(db, "Cohrt A")
    assert str(unknown.value) == ("No program 'Cohrt A'. Did you mean 'Cohort A'? "
                                  "The programs are: 'Cohort A', 'Spring circle'.")


def test_a_session_is_found_by_the_start_of_its_id_and_wildcards_are_plain_characters(settings) -> None:
    session_id = _session(settings)
    with session_scope(settings) as db:
        assert repo.get_session(db, session_id[:4]).id == session_id
        for pattern in ("%", "_" * 4):  # LIKE wildcards would match any id
            with pytest.raises(repo.NotFound, match=f"No session '{re.escape(pattern)}'"):
                repo.get_session(db, pattern)
