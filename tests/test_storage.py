"""The storage layer: migrations, sessions, stage outputs, insight rows, memo versions, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

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


def test_the_search_columns_change_without_losing_rows_or_the_keyword_triggers(tmp_path: Path) -> None:
    """Migrations 0005 (a second vector) and 0006 (no single passage speaker) on a database of the
    version before them, holding an insight and a passage."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0004")
    engine = create_engine(url)
    with engine.begin() as connection:  # foreign keys are off on this plain engine: no session row needed
        connection.execute(text(
            "INSERT INTO insights (session_id, position, section, statement, quote, start, \"end\", topic_index, "
            "embedding) VALUES ('s1', 0, 'idea', 'Pair new members', 'we could pair them', 1, 2, 0, x'00')"
        ))
        connection.execute(text(
            "INSERT INTO passages (session_id, position, text, speaker, speakers, start, \"end\", first_segment, "
            "last_segment) VALUES ('s1', 0, 'Welcome, Sam here', 'Sam', '[\"Sam\", \"Maria\"]', 0, 9, 0, 1)"
        ))
    command.upgrade(config, "head")
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
    stored = store_original(source, "s1", settings)
    assert (settings.data_dir / stored).read_bytes() == source.read_bytes()
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
        repo.rename_speaker(db, session_id, "Speaker 1", "Maria")
        repo.rename_speaker(db, session_id, "Speaker 1", "María")
    with session_scope(settings) as db:
        assert repo.latest_memo(db, session_id).markdown == "María said hi to Speaker 12."
        assert repo.get_session(db, session_id).speaker_names == {"Speaker 1": "María"}
        assert sorted(v.author for v in repo.memo_versions(db, session_id)) == [
            "insightcap", "speaker rename", "speaker rename"]
