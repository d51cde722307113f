"""Search across sessions on real meeting turns: keyword, paraphrase, filters, hostile input,
incremental indexing and deletion."""

from __future__ import annotations

import json
import shutil
from datetime import date
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from eval.retrieval import meeting_transcript as qmsum_transcript
from eval.retrieval import program_of, read_jsonl
from insightcap.config import Settings
from insightcap.insights.schema import Insight, Section, SessionInsights, Topic
from insightcap.search.documents import (
    LEAD_IN_SECONDS,
    SNIPPET_CHARS,
    allowed_keys,
    moment_of,
    said_at,
    session_keys,
    snippet,
)
from insightcap.search.encoder import search_embedder
from insightcap.search.hybrid import search
from insightcap.search.indexing import (
    delete_session_from_indexes,
    index_session,
    indexed_model,
    vector_index_path,
)
from insightcap.search.keyword import fts_query, mentioned_speakers
from insightcap.search.passages import build_passages
from insightcap.search.schema import (
    SEARCH_SECTIONS,
    SearchFilters,
    SearchHit,
    checked_filters,
    filter_problems,
    only_by_meaning,
    unknown_speaker,
)
from insightcap.storage import repository as repo
from insightcap.storage.db import folded, session_scope
from insightcap.storage.search_tables import PassageRecord
from insightcap.storage.tables import SessionRecord
from insightcap.themes.embed import Embedder
from insightcap.themes.index import IndexMismatch, VectorIndex
from insightcap.transcript.schema import Transcript

TURNS = 150
HOSTILE = ['"foo', "AND(", "NEAR/3 x*", "title:secret", "^start", "a OR", '")(*', "NOT", "-", "'; DROP TABLE sessions; --"]


def meeting_transcript(shared_eval: Path, meeting_id: str, turns: int = TURNS) -> Transcript:
    """The first turns of a real QMSum meeting, imported the way eval/retrieval.py imports it."""
    meetings = read_jsonl(shared_eval / "qmsum" / "meetings.jsonl")
    meeting = next(meeting for meeting in meetings if meeting["meeting_id"] == meeting_id)
    return qmsum_transcript({**meeting, "turns": meeting["turns"][:turns]})


def add_session(settings: Settings, shared_eval: Path, meeting_id: str, day: date, program: str = "Remote design") -> str:
    with session_scope(settings) as db:
        repo.create_session(
            db, session_id=meeting_id.lower(), title=meeting_id, source_kind="transcript",
            original_filename=f"{meeting_id}.vtt", stored_path="media/x", program=program, session_date=day,
        )
        repo.save_output(db, meeting_id.lower(), "transcript", meeting_transcript(shared_eval, meeting_id))
    return meeting_id.lower()


def _insight(section: Section, statement: str, transcript: Transcript, segment: int) -> Insight:
    found = transcript.segments[segment]
    return Insight(section=section, statement=statement, quote=found.text, speaker=found.speaker,
                   start=found.start, end=found.end, topic_index=0)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real meetings (ES2006a, ES2006b) indexed once; each test works on its own copy."""
    shared_eval = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
    if not shared_eval.is_dir():
        pytest.skip("the shared eval data is not beside this checkout")
    folder = tmp_path_factory.mktemp("indexed") / "data"
    settings = Settings(data_dir=folder)
    first = add_session(settings, shared_eval, "ES2006a", date(2024, 1, 10))
    second = add_session(settings, shared_eval, "ES2006b", date(2024, 1, 17))
    transcript = meeting_transcript(shared_eval, "ES2006b")
    lcd = next(i for i, segment in enumerate(transcript.segments) if "L_C_D_ display" in segment.text)
    email = next(i for i, segment in enumerate(transcript.segments) if "emailing me your presentations" in segment.text)
    insights = SessionInsights(
        topics=[Topic(index=0, title="Functional design", start=0, end=transcript.duration)],
        insights=[
            _insight(Section.IDEA, "Add a small screen to the remote if the budget allows", transcript, lcd),
            _insight(Section.ACTION_ITEM, "Everyone sends their slides to the project manager", transcript, email),
        ],
    )
    with session_scope(settings) as db:
        repo.replace_insights(db, second, insights)
    for session_id in (first, second):
        index_session(settings, session_id)
    return folder


@pytest.fixture
def settings_copy(indexed: Path, tmp_path: Path) -> Settings:
    shutil.copytree(indexed, tmp_path / "data")
    return Settings(data_dir=tmp_path / "data")


def test_passages_are_overlapping_windows_covering_every_segment(shared_eval: Path) -> None:
    transcript = meeting_transcript(shared_eval, "ES2006a")
    passages = build_passages(transcript, target_words=70, overlap_words=30)
    covered = {i for passage in passages for i in range(passage.first_segment, passage.last_segment + 1)}
    assert covered == set(range(len(transcript.segments)))
    assert all(70 <= len(passage.text.split()) < 100 for passage in passages[:-1])
    pairs = list(pairwise(passages))
    assert all(later.first_segment <= earlier.last_segment + 1 for earlier, later in pairs)
    # Consecutive windows share their tail unless that tail alone is longer than the overlap.
    assert all(later.start < earlier.end for earlier, later in pairs)
    assert any(len(passage.speakers) > 1 for passage in passages)
    for passage in passages:
        spoken = [segment for segment in transcript.segments[passage.first_segment : passage.last_segment + 1]
                  if segment.text.split()]
        assert passage.speakers == list(dict.fromkeys(segment.speaker for segment in spoken))


def test_a_section_is_named_as_stored_as_in_the_memo_or_as_in_the_web_app() -> None:
    names = {"idea": "idea", "Commitments": "action_item", "action items": "action_item", "Action-Item": "action_item",
             "Open questions": "question", "Practical strategies": "strategy", "background": "context",
             "transcript": "transcript"}
    assert {name: SearchFilters(section=name).section for name in names} == names
    with pytest.raises(ValidationError) as unknown:
        SearchFilters(section="bogus")
    problem = filter_problems(unknown.value)
    assert problem.startswith("There is no section 'bogus'. Choose one of: context, idea,")
    assert all(section in problem for section in SEARCH_SECTIONS)
    with pytest.raises(ValidationError) as both:
        SearchFilters.model_validate({"section": "decisions", "date_from": "next week", "date_to": "soon"})
    assert filter_problems(both.value) == ("Dates must look like 2026-11-25. There is no section 'decisions'. Choose one of: "
                                           f"{', '.join(SEARCH_SECTIONS)} (action_item is the memo's commitments; "
                                           "transcript finds what was said, without insights).")


def test_a_passage_hit_is_credited_to_the_conversation_not_to_one_of_its_speakers() -> None:
    common = {"session_id": "s", "session_title": "Mentor onboarding", "quote": "…", "start": 1.0, "end": 9.0, "score": 1.0}
    assert SearchHit(kind="passage", speakers=["Sam", "Maria"], **common).said_by == "conversation between Sam and Maria"
    several = SearchHit(kind="passage", speakers=["Sam", "Maria", "Ana"], **common)
    assert several.said_by == "conversation between Sam, Maria and Ana"
    assert SearchHit(kind="passage", speaker="Maria", speakers=["Maria"], **common).said_by == "Maria"
    assert SearchHit(kind="passage", **common).said_by == ""


def test_hostile_query_syntax_is_searched_as_words() -> None:
    assert fts_query('"foo AND(') == '"foo"'
    assert fts_query("the and of") == '"the" OR "and" OR "of"'  # only stop words: keep them
    assert fts_query("!!! ???") is None


def test_a_query_names_speakers_by_label_or_given_name() -> None:
    labels = {"PhD A", "PhD B", "Professor C", "Professor D", "Grad E", "Marketing", "Cat"}
    assert mentioned_speakers("What did PhD A think about the results?", labels) == {"PhD A"}
    # "a" is an article here, not the speaker A: every professor fits equally.
    assert mentioned_speakers("Did the professor like a plan?", labels) == {"Professor C", "Professor D"}
    assert mentioned_speakers("what did cat say about the budget", labels) == {"Cat"}
    assert mentioned_speakers("What was decided about the budget?", labels) == set()


def test_eval_programs_are_recurring_groups() -> None:
    assert program_of({"meeting_id": "ES2006c", "domain": "Product"}) == "ES2006"
    assert program_of({"meeting_id": "Bro011", "domain": "Academic"}) == "Bro"
    assert program_of({"meeting_id": "education_18", "domain": "Committee"}) == "education"


@pytest.mark.slow
def test_search_finds_an_insight_by_keyword_and_by_paraphrase(settings_copy: Settings) -> None:
    by_keyword = search(settings_copy, "LCD display", limit=5)
    assert by_keyword[0].kind == "insight" and "L_C_D_" in by_keyword[0].quote
    assert by_keyword[0].session_id == "es2006b" and by_keyword[0].session_title == "ES2006b"
    by_meaning = search(settings_copy, "mail the slideshows to the manager", SearchFilters(kind="insight"), limit=1,
                        mode="semantic")
    assert by_meaning[0].statement == "Everyone sends their slides to the project manager"
    assert by_keyword[0].has_query_words and not only_by_meaning(by_keyword)


def test_a_remembered_phrase_finds_the_moment_it_was_said_before_insights_sharing_a_word(
    settings_copy: Settings, shared_eval: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "A little screen or something" is said at turn 133 of ES2006b; the idea insight "Add a small
    # screen to the remote…" shares only "screen", and is much shorter than a passage.
    said_at = meeting_transcript(shared_eval, "ES2006b").segments[133]
    first = search(settings_copy, "a little screen or something", limit=5)[0]
    assert first.kind == "passage" and first.start <= said_at.start < first.end
    monkeypatch.setattr("insightcap.search.hybrid.phrase_ranking", lambda *args: [])
    assert search(settings_copy, "a little screen or something", limit=5)[0].kind == "insight"


def test_results_with_no_word_of_the_query_are_flagged_as_only_close_in_meaning(settings_copy: Settings) -> None:
    # Nothing in two design meetings is about taxes: search still returns its nearest neighbours.
    unrelated = search(settings_copy, "xylophone quarterly tax audit", limit=5)
    assert unrelated and only_by_meaning(unrelated)


@pytest.mark.slow
def test_filters_restrict_results(settings_copy: Settings) -> None:
    query = "remote control design"
    assert {hit.session_id for hit in search(settings_copy, query)} == {"es2006a", "es2006b"}
    assert {hit.session_id for hit in search(settings_copy, query, SearchFilters(session_id="es2006a"))} == {"es2006a"}
    later = search(settings_copy, query, SearchFilters(date_from=date(2024, 1, 15)))
    assert later and {hit.session_id for hit in later} == {"es2006b"}
    assert search(settings_copy, query, SearchFilters(program="Another cohort")) == []
    ideas = search(settings_copy, query, SearchFilters(section="idea"))
    assert ideas and all(hit.kind == "insight" and hit.section == "idea" for hit in ideas)
    commitments = search(settings_copy, "slides", SearchFilters(section="commitments"))
    assert [hit.statement for hit in commitments] == ["Everyone sends their slides to the project manager"]
    transcript_only = search(settings_copy, "LCD display", SearchFilters(section="transcript"))
    assert transcript_only and all(hit.kind == "passage" and hit.section is None for hit in transcript_only)
    marketing = search(settings_copy, query, SearchFilters(speaker="marketing"))
    assert marketing and all(hit.kind == "passage" and "Marketing" in hit.speakers for hit in marketing)
    given = {"Marketing": "Cat", "User Interface": "Uma", "Project Manager": "Pat", "Industrial Designer": "Ian"}
    with session_scope(settings_copy) as db:
        repo.get_session(db, "es2006a").speaker_names = given
    # A passage matches a speaker who spoke in it, by transcript label or by the name given later,
    # and shows everyone speaking in it, by their given names: never one of them as if they said it all.
    by_name = search(settings_copy, query, SearchFilters(speaker="cat"))
    assert by_name and {hit.session_id for hit in by_name} == {"es2006a"}
    assert all("Cat" in hit.speakers and set(hit.speakers) <= set(given.values()) for hit in by_name)
    assert all(hit.speaker is None and hit.said_by.startswith("conversation between") for hit in by_name
               if len(hit.speakers) > 1)
    assert any(len(hit.speakers) > 1 for hit in by_name)


@pytest.mark.slow
def test_moments_where_the_named_speaker_talks_come_first(settings_copy: Settings) -> None:
    with session_scope(settings_copy) as db:
        repo.get_session(db, "es2006b").speaker_names = {"Industrial Designer": "Ravi"}
        speakers = {(row.session_id, row.start): row.speakers for row in db.query(PassageRecord)}
    query = "what did Ravi say about the remote control"
    plain = search(settings_copy, query, limit=5, mode="keyword")
    hits = search(settings_copy, query, limit=5)
    spoke = [("Industrial Designer" in speakers[hit.session_id, hit.start]) and hit.session_id == "es2006b"
             for hit in hits if hit.kind == "passage"]
    assert spoke[:3] == [True, True, True]
    assert [hit.start for hit in hits] != [hit.start for hit in plain]


@pytest.mark.slow
def test_hostile_input_never_errors(settings_copy: Settings) -> None:
    for query in HOSTILE:
        search(settings_copy, query, limit=3)
        search(settings_copy, query, SearchFilters(session_id="es2006a"), limit=3, mode="keyword")
    with session_scope(settings_copy) as db:
        assert db.execute(text("SELECT count(*) FROM sessions")).scalar() == 2


@pytest.mark.slow
def test_adding_a_session_adds_only_its_vectors(settings_copy: Settings, shared_eval: Path) -> None:
    path = vector_index_path(settings_copy)
    before = VectorIndex(path)
    old_vectors = {key: before._index.reconstruct(key) for key in before.ids()[:5]}
    session_id = add_session(settings_copy, shared_eval, "ES2006c", date(2024, 1, 24))
    added = index_session(settings_copy, session_id)
    after = VectorIndex(path)
    with session_scope(settings_copy) as db:
        new_keys = set(session_keys(db, session_id))
    assert added == len(new_keys) > 0
    assert len(after) == len(before) + added
    assert set(after.ids()) == set(before.ids()) | new_keys
    assert all(np.array_equal(after._index.reconstruct(key), vector) for key, vector in old_vectors.items())


@pytest.mark.slow
def test_deleted_session_disappears_from_search(settings_copy: Settings) -> None:
    assert any(hit.session_id == "es2006a" for hit in search(settings_copy, "remote control design"))
    with session_scope(settings_copy) as db:
        keys = set(session_keys(db, "es2006a"))
        db.delete(db.get(SessionRecord, "es2006a"))
    delete_session_from_indexes(settings_copy, "es2006a")
    assert not keys & set(VectorIndex(vector_index_path(settings_copy)).ids())
    for mode in ("keyword", "semantic", "hybrid"):
        hits = search(settings_copy, "remote control design", mode=mode)
        assert hits and all(hit.session_id != "es2006a" for hit in hits)


def test_vector_log_replaces_a_session_survives_a_torn_write_and_forgets_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "search.vectors"
    rng = np.random.default_rng(0)
    first, second, redone = (rng.standard_normal((n, 8)).astype(np.float32) for n in (3, 2, 4))
    VectorIndex.build(path, 8, {"a": (np.array([1, 3, 5]), first)})
    reader = VectorIndex.cached(path)
    VectorIndex.write_session(path, 8, "b", np.array([2, 4]), second)
    VectorIndex.write_session(path, 8, "a", np.array([7, 9, 11, 13]), redone)
    # A reader that already holds the index applies only what was appended since.
    assert VectorIndex.cached(path) is reader and sorted(reader.ids()) == [2, 4, 7, 9, 11, 13]
    assert np.array_equal(reader._index.reconstruct(9), redone[1].astype(np.float16))
    with open(path, "ab") as log:  # a crash in the middle of appending a record
        log.write(b"IVR1\x01\x00")
    assert sorted(VectorIndex(path).ids()) == [2, 4, 7, 9, 11, 13]
    VectorIndex.write_session(path, 8, "b", np.array([2]), second[:1])
    assert sorted(VectorIndex(path).ids()) == [2, 7, 9, 11, 13]
    VectorIndex.forget_session(path, "a")
    assert sorted(VectorIndex.cached(path).ids()) == [2]
    # Forgetting rewrites the file: the session's vectors are not left behind in superseded records.
    assert redone[0].tobytes() not in path.read_bytes() and first[0].tobytes() not in path.read_bytes()


@pytest.mark.slow
def test_an_index_of_another_model_is_refused_by_search_and_rebuilt_by_the_next_session(
    settings_copy: Settings, shared_eval: Path
) -> None:
    """What an upgrade to the search encoder meets: rows with only the packaged model's vector (as
    migration 0005 leaves them), and an index naming that model."""
    packaged = Embedder(settings_copy)
    with session_scope(settings_copy) as db:
        rows = repo.session_passage_rows(db, "es2006a")
        for row, vector in zip(rows, packaged.encode([row.text for row in rows])):
            row.embedding, row.search_embedding = vector.tobytes(), None
        first_text, first_theme_vector = rows[0].text, rows[0].embedding
    meta = settings_copy.data_dir / "index" / "search.json"
    meta.write_text(json.dumps({"model": packaged.model_name, "dimension": packaged.dimension}))
    with pytest.raises(IndexMismatch, match="insightcap reindex"):
        search(settings_copy, "remote control design", mode="semantic")
    assert search(settings_copy, "remote control design", mode="keyword")  # words need no vectors

    index_session(settings_copy, add_session(settings_copy, shared_eval, "ES2006c", date(2024, 1, 24)))
    encoder = search_embedder(settings_copy)
    assert indexed_model(settings_copy) == encoder.model_name != packaged.model_name
    with session_scope(settings_copy) as db:
        first = repo.session_passage_rows(db, "es2006a")[0]
        assert first.embedding == first_theme_vector  # themes keep the packaged model's vector
        stored = np.frombuffer(first.search_embedding, dtype=np.float32)
    assert np.allclose(stored, encoder.encode([first_text])[0], atol=1e-5)
    assert {hit.session_id for hit in search(settings_copy, "remote control design", mode="semantic")}


def test_each_row_stores_the_packaged_vector_for_themes_and_the_search_encoders_for_search(
    settings_copy: Settings,
) -> None:
    with session_scope(settings_copy) as db:
        row = repo.session_passage_rows(db, "es2006a")[0]
        theme_vector = np.frombuffer(row.embedding, dtype=np.float32)
        search_vector = np.frombuffer(row.search_embedding, dtype=np.float32)
        passage_text, passage_key = row.text, row.id * 2
    assert np.allclose(theme_vector, Embedder(settings_copy).encode([passage_text])[0], atol=1e-5)
    assert np.allclose(search_vector, search_embedder(settings_copy).encode([passage_text])[0], atol=1e-5)
    nearest_key, _ = VectorIndex.cached(vector_index_path(settings_copy)).search(search_vector, 1)[0]
    assert nearest_key == passage_key


def test_an_unknown_program_and_a_reversed_date_range_are_refused_in_words() -> None:
    programs = ["Design team", "Mentoring cohort"]
    assert checked_filters(programs, program=" mentoring COHORT").program == "Mentoring cohort"
    # The same rule as a session joining a program: spacing does not count either.
    assert checked_filters(programs, program="mentoring   cohort").program == "Mentoring cohort"
    with pytest.raises(ValidationError) as unknown:
        checked_filters(programs, program="Nonexistent")
    assert filter_problems(unknown.value) == "No program called 'Nonexistent'. Choose one of: Design team, Mentoring cohort."
    with pytest.raises(ValidationError) as no_programs:
        checked_filters([], program="Nonexistent")
    assert filter_problems(no_programs.value) == "No program called 'Nonexistent'. There is no program to search yet."
    with pytest.raises(ValidationError) as reversed_range:
        SearchFilters.model_validate({"date_from": "2025-03-30", "date_to": "2025-03-01"})
    assert filter_problems(reversed_range.value) == (
        "The start date (2025-03-30) is after the end date (2025-03-01): swap them.")
    one_day = SearchFilters(date_from=date(2025, 3, 1), date_to=date(2025, 3, 1))
    assert one_day.date_from == one_day.date_to


def test_speaker_names_compare_without_case_or_accents() -> None:
    assert {folded(name) for name in ("Tomás", "tomás", "TOMAS", "tomas", "TOMÁS")} == {"tomas"}
    assert folded("Zoë Ødegård") == "zoe ødegard"  # ø is a letter of its own, not an o with an accent


def test_a_long_passage_is_shown_around_the_first_word_of_the_query() -> None:
    before = " ".join(f"filler{i}" for i in range(50))
    after = " ".join(f"later{i}" for i in range(50))
    passage = f"{before} the Feedback came back in a long email {after}"
    shown = snippet(passage, "how groups handled feedback")
    assert len(passage) > 700 and len(shown) <= SNIPPET_CHARS + 2
    assert shown.startswith("…filler") and shown.endswith("…") and "the Feedback came back" in shown
    middle = shown.index("Feedback")
    assert abs(middle - len(shown) / 2) < 20  # centred on the word
    assert snippet(passage, "xylophone").startswith("filler0 filler1") and snippet(passage, "xylophone").endswith("…")
    assert snippet(passage, "later49").endswith("later49") and snippet("Short and whole.", "whole") == "Short and whole."


def test_a_remembered_phrase_is_shown_and_opened_where_it_is_said_not_at_its_first_word() -> None:
    # "like" is said early on; the phrase, with a comma inside, three quarters of the way in.
    passage = ("I'd like to start. " + " ".join(["word"] * 150)
               + " it felt like a balloon, in a cage really " + " ".join(["word"] * 45))
    query = "like a balloon in a cage"
    said = 100.0 + 80.0 * passage.index("like a balloon") / len(passage)
    assert moment_of(passage, 100.0, 180.0, query) == pytest.approx(said - LEAD_IN_SECONDS)
    assert "like a balloon, in a cage" in snippet(passage, query)
    # Not said as a phrase: the first of its words worth matching, "like" in "I'd like to start".
    assert moment_of(passage, 100.0, 180.0, "balloon like") == 100.0


def test_a_passages_link_opens_where_the_query_is_said_not_where_the_passage_starts() -> None:
    # 80 seconds of talk, "template" about three quarters of the way in.
    passage = " ".join(["word"] * 150) + " the templates we shared " + " ".join(["word"] * 45)
    opens = moment_of(passage, 100.0, 180.0, "feedback template")
    said = 100.0 + 80.0 * passage.index("templates") / len(passage)
    assert opens == pytest.approx(said - LEAD_IN_SECONDS)
    assert moment_of(passage, 100.0, 180.0, "xylophone") == 100.0  # not in it: the passage's start
    assert moment_of("Templates first.", 100.0, 110.0, "template") == 100.0  # never before the passage
    hit = SearchHit(kind="passage", session_id="s", session_title="t", quote=passage, start=100.0, end=180.0,
                    moment=opens, score=1.0)
    assert hit.opens_at == opens
    assert hit.model_copy(update={"moment": None}).opens_at == 100.0


def test_a_result_marks_the_phrase_where_it_is_said_whole_and_its_words_elsewhere() -> None:
    passage = "Like a balloon, in a cage: the balloon again, and ballooning costs. Cages!"
    spans = said_at(passage, "like a balloon in a cage")
    assert [passage[start:end] for start, end in spans] == ["Like a balloon, in a cage", "balloon", "ballooning", "Cages"]
    assert said_at(passage, "xylophone") == [] and said_at(passage, "") == []
    assert said_at("costs (c++) rose. Costs*", 'c++ (costs* "rose') == [(0, 5), (12, 16), (18, 23)]  # words only


def test_a_speaker_filter_naming_no_one_is_answered_with_who_there_is() -> None:
    speakers = {("Speaker 1", "Ana"), ("Speaker 2", "Speaker 2"), ("Marketing", "Tomás")}
    for named in ("ana", " Speaker 1 ", "TOMAS", "marketing"):
        assert unknown_speaker(named, speakers, narrowed=False) is None, named
    assert unknown_speaker("Tomas Ruiz", speakers, narrowed=False) == (
        "No session has a speaker called 'Tomas Ruiz'. Did you mean 'Tomás'? The speakers are Ana, Speaker 2 and Tomás.")
    # A first name alone, even mistyped, is the usual way to name someone.
    people = {("Speaker 1", "Diego Ramírez"), ("Speaker 2", "Amara Okafor"), ("Speaker 3", "Diego Luna")}
    for first_name in ("diego", "Digeo"):
        assert f"'{first_name}'. Did you mean 'Diego Luna' or 'Diego Ramírez'? The speakers" in unknown_speaker(
            first_name, people, narrowed=False)
    assert "Did you mean 'Amara Okafor'?" in unknown_speaker("okafor", people, narrowed=False)
    assert unknown_speaker("Bob", speakers, narrowed=True) == (
        "No session matching the other filters has a speaker called 'Bob'. The speakers are Ana, Speaker 2 and Tomás.")
    many = {(f"Speaker {n}", f"Speaker {n}") for n in range(1, 16)}
    assert unknown_speaker("Bob", many, narrowed=False).endswith("Speaker 9, Speaker 10, Speaker 11, Speaker 12 and 3 others.")
    assert unknown_speaker("Bob", set(), narrowed=False) == (
        "No session has a speaker called 'Bob' (none has a transcript with speakers yet). Search without the speaker filter.")


@pytest.mark.slow
def test_the_speaker_filter_ignores_case_and_accents(settings_copy: Settings) -> None:
    with session_scope(settings_copy) as db:
        repo.get_session(db, "es2006a").speaker_names = {"Marketing": "Tomás"}
    with session_scope(settings_copy) as db:
        by_spelling = {name: allowed_keys(db, SearchFilters(speaker=name)) for name in ("Tomás", "tomás", "tomas", "TOMAS")}
        marketing_in_a = allowed_keys(db, SearchFilters(speaker="marketing", session_id="es2006a"))
    assert by_spelling["Tomás"] and all(keys == by_spelling["Tomás"] for keys in by_spelling.values())
    assert sorted(by_spelling["tomas"]) == sorted(marketing_in_a)
    # A transcript label with an accent matches too (SQLite's own lower() leaves "Ë" as it is).
    with session_scope(settings_copy) as db:
        passage_id = db.execute(text("SELECT min(id) FROM passages WHERE session_id = 'es2006b'")).scalar()
        db.execute(text("UPDATE passages SET speakers = json_array('ZOË') WHERE id = :id"), {"id": passage_id})
    with session_scope(settings_copy) as db:
        assert allowed_keys(db, SearchFilters(speaker="zoe", kind="passage")) == [passage_id * 2]
    assert {hit.session_id for hit in search(settings_copy, "remote control design", SearchFilters(speaker="tomas"))} == {
        "es2006a"}


@pytest.mark.slow
def test_the_cli_refuses_what_would_find_nothing_and_shortens_transcript_hits(
    settings_copy: Settings, shared_eval: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from insightcap.cli import app
    from insightcap.config import get_settings

    monkeypatch.setenv("INSIGHTCAP_DATA_DIR", str(settings_copy.data_dir))
    get_settings.cache_clear()

    def run(*args: str):
        return CliRunner().invoke(app, ["search", *args], env={"COLUMNS": "400"})

    try:
        for args, problem in (
            (("",), "Type what you are looking for"),
            (("   ",), "Type what you are looking for"),
            (("remote", "--limit", "0"), "--limit must be from 1 to 100."),
            (("remote", "--limit", "101"), "--limit must be from 1 to 100."),
            (("remote", "--program", "Nonexistent"), "No program called 'Nonexistent'. Choose one of: Remote design."),
            (("remote", "--date-from", "2024-01-30", "--date-to", "2024-01-01"),
             "The start date (2024-01-30) is after the end date (2024-01-01): swap them."),
        ):
            refused = run(*args)
            assert refused.exit_code == 1, args
            assert problem in " ".join(refused.stderr.split()) and "No matches" not in refused.stdout, args
        negative = run("remote", "--limit", "-1")  # not a count at all: refused as a usage error, in plain words
        assert negative.exit_code == 2 and "'-1' is not a whole number: --limit takes how many results" in " ".join(
            negative.stderr.split())
        assert run("remote", "--program", "remote DESIGN", "--limit", "1").exit_code == 0
        found = run("LCD display", "--section", "transcript", "--limit", "3")
        assert found.exit_code == 0, found.output
        said = [line.split(": ", 1)[1] for line in found.stdout.splitlines() if ") transcript " in line]
        assert said and all(len(quote) <= SNIPPET_CHARS + 2 and "…" in quote for quote in said)
        assert any("display" in quote.lower() for quote in said)
    finally:
        get_settings.cache_clear()
