"""Program themes across sessions: the pipeline's parts, and theme ids that survive re-clustering."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from test_search import add_session, indexed, settings_copy  # noqa: F401 - shared fixtures

from insightcap.insights.schema import Insight, Section, SessionInsights, Topic
from insightcap.search.indexing import index_session
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.search_tables import ThemeMemberRecord, ThemeRecord
from insightcap.themes.pipeline import (
    OUTLIER,
    AgglomerativeClusterer,
    KeyphraseDescriber,
    _spread,
)
from insightcap.themes.program import (
    SAME_THEME,
    ThemeDocument,
    cluster_program_themes,
    keyword_label,
    match_clusters,
    session_theme_links,
    theme_model,
    trend,
)

# How people talk in a design meeting: the verbs and fillers ("using", "let", "draw", "skip",
# "discuss", "play") once made a theme's label; the label names what was talked about.
TALK = [
    "So we are using the remote control, let me draw it on the whiteboard.",
    "The remote control needs a battery that lasts.",
    "I think the battery could come from an energy source like solar cells.",
    "We could use a kinetic energy source instead of the battery.",
    "Let us skip the questions and discuss the costs of the project.",
    "The production costs play a big role, twelve euro fifty per remote.",
    "We have to keep the production costs low for the project budget.",
    "The selling price is twenty five euro, so the costs matter.",
    "Okay, yeah, the meeting is over.",
]


def test_theme_keyphrases_are_the_nouns_and_noun_phrases_distinctive_of_a_theme() -> None:
    keywords = KeyphraseDescriber().describe(TALK, np.array([0, 0, 0, 0, 1, 1, 1, 1, OUTLIER]))
    assert set(keywords) == {0, 1}  # an outlier is no theme
    assert {"remote control", "battery", "energy source"} == set(keywords[0][:3])
    assert "production cost" in keywords[1][:3]
    words = {word for phrases in keywords.values() for phrase in phrases for word in phrase.split()}
    assert not words & {"using", "use", "let", "draw", "skip", "discuss", "play", "okay", "meeting"}
    label = ", ".join(keywords[0][:3])  # the label is the first three, capitalised as a heading
    assert keyword_label(keywords[0]) == label[0].upper() + label[1:]


def test_texts_in_no_theme_are_not_described() -> None:
    assert KeyphraseDescriber().describe(TALK[:2], np.array([OUTLIER, OUTLIER])) == {}


def test_agglomerative_clusterer_leaves_small_groups_as_outliers() -> None:
    rng = np.random.default_rng(0)
    centre = rng.normal(size=8)
    vectors = np.vstack([centre + 0.01 * rng.normal(size=(5, 8)), rng.normal(size=(1, 8))])
    labels = AgglomerativeClusterer(distance=0.2, min_size=3).cluster(vectors)
    assert len(set(labels[:5])) == 1 and labels[0] != OUTLIER and labels[5] == OUTLIER


def test_a_large_collection_is_linked_through_tight_groups_with_the_same_themes() -> None:
    """Beyond `most_linked` texts the clusterer links k-means groups, not texts: same partition."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(6, 32))
    truth = rng.integers(0, 6, size=900)
    vectors = centres[truth] + 0.15 * rng.normal(size=(900, 32))
    direct = AgglomerativeClusterer(distance=0.3).cluster(vectors)
    grouped = AgglomerativeClusterer(distance=0.3, most_linked=60).cluster(vectors)
    assert adjusted_rand_score(truth, direct) == 1.0
    assert adjusted_rand_score(direct, grouped) == 1.0


def test_long_passages_are_cut_tighter_than_insights_and_a_mix_in_between() -> None:
    def documents(kinds: list[str]) -> list[ThemeDocument]:
        return [ThemeDocument(kind, i, "s1", "text", np.ones(2)) for i, kind in enumerate(kinds)]

    passages = theme_model(documents(["passage"] * 4)).clusterer.distance
    insights = theme_model(documents(["insight"] * 4)).clusterer.distance
    mixed = theme_model(documents(["passage", "insight"])).clusterer.distance
    assert passages < mixed < insights == theme_model([]).clusterer.distance


def test_matching_is_one_to_one_above_the_threshold() -> None:
    a, b = np.eye(4)[0], np.eye(4)[1]
    near_a = (a + 0.1 * b) / np.linalg.norm(a + 0.1 * b)
    assert match_clusters([a, b], [near_a, np.eye(4)[2]]) == {0: 0}


def test_trend_compares_recent_sessions_with_earlier_ones() -> None:
    sizes = [10] * 6
    assert trend([0, 0, 1, 1, 4, 5], sizes) == "rising"
    assert trend([3, 3, 3, 3, 3, 3], sizes) == "steady"
    assert trend([5, 4, 3, 1, 0, 0], sizes) == "fading"


def _centroids(settings) -> dict[int, np.ndarray]:
    with session_scope(settings) as db:
        rows = repo.program_theme_rows(db, repo.program_by_name(db, "Remote design").id)
        return {row.id: np.frombuffer(row.centroid, dtype=np.float32) for row in rows}


@pytest.mark.slow
def test_theme_ids_survive_reclustering_with_one_more_session(settings_copy, shared_eval: Path) -> None:
    first = cluster_program_themes(settings_copy, "Remote design")
    assert first and all(theme.quotes and theme.count >= 3 for theme in first)
    assert all(theme.first_seen <= theme.last_seen for theme in first)
    again = cluster_program_themes(settings_copy, "Remote design")
    assert [(theme.id, theme.label) for theme in again] == [(theme.id, theme.label) for theme in first]
    before = _centroids(settings_copy)

    session_id = add_session(settings_copy, shared_eval, "ES2006c", date(2024, 1, 24))
    index_session(settings_copy, session_id)
    later = cluster_program_themes(settings_copy, "Remote design")
    after = _centroids(settings_copy)
    kept = set(after) & set(before)
    assert len(kept) >= len(before) // 2, "re-clustering one more session lost most themes"
    # A kept id means the same theme: its centre moved only a little.
    assert all(float(after[i] @ before[i]) >= SAME_THEME for i in kept)
    assert any(session_id in theme.session_ids for theme in later)


# --- Which memo theme a program theme is linked from, and what is called recurring -------------

PROGRAM = "Design circle"


def _session_with_insights(settings, session_id: str, day: date, insights: list[tuple[int, Section]]) -> list[int]:
    """A session of PROGRAM with one insight per (topic, section), in two topics; the insight row ids."""
    structured = SessionInsights(
        topics=[Topic(index=index, title=f"Topic {index}", start=60.0 * index, end=60.0 * index + 60) for index in (0, 1)],
        insights=[
            Insight(section=section, statement=f"Point {n}", quote=f"Point {n}.", speaker="A", start=float(n),
                    end=n + 1.0, topic_index=topic)
            for n, (topic, section) in enumerate(insights)
        ],
    )
    with session_scope(settings) as db:
        repo.create_session(db, session_id=session_id, title=session_id.upper(), source_kind="transcript",
                            original_filename=f"{session_id}.vtt", stored_path="media/x", program=PROGRAM,
                            session_date=day)
        return [row.id for row in repo.replace_insights(db, session_id, structured)]


def _stored_theme(settings, label: str, members: list[tuple[str, int]]) -> None:
    """A program theme holding these (session, insight row) members, the closest first."""
    with session_scope(settings) as db:
        row = ThemeRecord(program_id=repo.program_by_name(db, PROGRAM).id, label=label, keywords=[],
                          centroid=np.ones(2, dtype=np.float32).tobytes(), count=len(members),
                          session_count=len({session for session, _ in members}))
        db.add(row)
        db.flush()
        repo.replace_theme_members(db, row.id, [
            ThemeMemberRecord(theme_id=row.id, kind="insight", row_id=insight, session_id=session,
                              similarity=1.0 - position / 100, representative=position == 0)
            for position, (session, insight) in enumerate(members)
        ])


@pytest.fixture
def two_sessions(settings):
    """Two sessions sharing two themes, each theme touching both topics of the second session, and
    a larger theme only the second session has."""
    idea, commitment = Section.IDEA, Section.ACTION_ITEM
    first = _session_with_insights(settings, "s1", date(2024, 1, 10), [(0, idea), (1, idea)])
    second = _session_with_insights(
        settings, "s2", date(2024, 1, 17),
        [(0, idea), (1, idea), (1, idea), (0, commitment), (0, commitment), (1, idea)] + [(0, idea)] * 5,
    )
    # Closest member first in topic 0, but most of it in topic 1.
    _stored_theme(settings, "remote control, battery", [("s2", second[0]), ("s1", first[0]), ("s2", second[1]), ("s2", second[2])])
    # Most of it in topic 0, but as commitments, which the memo lists outside the themes.
    _stored_theme(settings, "production cost", [("s2", second[3]), ("s2", second[4]), ("s2", second[5]), ("s1", first[1])])
    _stored_theme(settings, "whiteboard", [("s2", insight) for insight in second[6:]])
    return settings


def test_a_theme_is_linked_from_the_one_topic_holding_most_of_its_insights(two_sessions) -> None:
    links = session_theme_links(two_sessions, "s2")
    labels = {topic: [(link.label, link.sessions_seen) for link in found] for topic, found in links.items()}
    assert labels == {
        0: [("whiteboard", 1)],
        1: [("remote control, battery", 2), ("production cost", 2)],  # the one holding most of topic 1 first
    }
    first = session_theme_links(two_sessions, "s1")
    assert {topic: [link.label for link in found] for topic, found in first.items()} == {
        0: ["remote control, battery"], 1: ["production cost"],
    }


def test_the_cli_calls_recurring_only_themes_of_two_sessions_or_more(two_sessions) -> None:
    from test_cli import cli

    shown = cli(two_sessions.data_dir, "themes", PROGRAM).stdout
    assert shown.startswith(f"Themes of {PROGRAM} across 2 sessions: 2 recurring, ")
    assert "session(s)" not in shown
    assert shown.count("2 sessions,") == 2
    assert "1 session only (not recurring yet), 5 insights" in shown
    # The largest theme, seen in one session, comes after the recurring ones.
    assert shown.index("remote control, battery") < shown.index("production cost") < shown.index("whiteboard")


def test_the_cli_says_a_theme_seen_in_an_undated_session_was_added_that_day(settings) -> None:
    from test_cli import cli

    from insightcap.storage.tables import InsightRecord
    from insightcap.themes.pipeline import Cluster

    rows = _session_with_insights(settings, "s1", date(2024, 1, 10), [(0, Section.IDEA)])
    rows += _session_with_insights(settings, "s2", None, [(0, Section.IDEA)])
    with session_scope(settings) as db:
        for row_id in rows:
            db.get(InsightRecord, row_id).embedding = np.ones(2, dtype=np.float32).tobytes()
        added = repo.get_session(db, "s2").created_at.date().isoformat()

    class OneTheme:
        def fit(self, texts: list[str], vectors: np.ndarray) -> list[Cluster]:
            return [Cluster(label=0, members=list(range(len(texts))), centroid=np.ones(2) / np.sqrt(2),
                            keywords=["pairing"])]

    cluster_program_themes(settings, PROGRAM, model=OneTheme())
    shown = " ".join(cli(settings.data_dir, "themes", PROGRAM).stdout.split())
    assert f"2 sessions, 2 insights, steady, seen 2024-01-10 → added {added}" in shown
    assert f"Came up 2 times in 2 of 2 sessions, first 2024-01-10, last added {added};" in shown
    assert f"→ {added}" not in shown  # never the upload day passed off as the day the session was held


def test_a_large_theme_is_named_from_texts_spread_over_all_its_sessions():
    """Naming parses a bounded sample, taken evenly from first to last (texts come in session order)."""
    members = np.arange(0, 5000, 5)
    sample = _spread(members, 100)
    assert len(sample) == len(set(sample)) == 100
    assert sample[0] == 0 and sample[-1] == 4995 and sample == sorted(sample)
    assert _spread(members[:40], 100) == members[:40].tolist()


def test_a_facilitators_name_for_a_theme_survives_reclustering_and_an_empty_one_restores_the_keywords(settings) -> None:
    from insightcap.storage.tables import InsightRecord
    from insightcap.themes.pipeline import Cluster
    from insightcap.themes.program import rename_program_theme

    rows = _session_with_insights(settings, "s1", date(2024, 1, 10), [(0, Section.IDEA)])
    rows += _session_with_insights(settings, "s2", date(2024, 1, 17), [(0, Section.IDEA)])
    with session_scope(settings) as db:
        for row_id in rows:
            db.get(InsightRecord, row_id).embedding = np.ones(2, dtype=np.float32).tobytes()

    class OneTheme:
        def __init__(self, keywords: list[str]) -> None:
            self.keywords = keywords

        def fit(self, texts: list[str], vectors: np.ndarray) -> list[Cluster]:
            return [Cluster(label=0, members=list(range(len(texts))), centroid=np.ones(2) / np.sqrt(2),
                            keywords=self.keywords)]

    [theme] = cluster_program_themes(settings, PROGRAM, model=OneTheme(["pairing", "buddy"]))
    assert theme.label == "Pairing, buddy"
    assert rename_program_theme(settings, PROGRAM.lower(), theme.id, "  Pairing new  volunteers ") == "Pairing new volunteers"
    # The same theme found again, its key words moved on: the facilitator's name stays.
    [again] = cluster_program_themes(settings, PROGRAM, model=OneTheme(["buddy", "rota"]))
    assert (again.id, again.label) == (theme.id, "Pairing new volunteers")
    assert rename_program_theme(settings, PROGRAM, theme.id, "") == "Buddy, rota"
    [keyworded] = cluster_program_themes(settings, PROGRAM, model=OneTheme(["rota"]))
    assert keyworded.label == "Rota"  # a keyword name follows the key words again
    with pytest.raises(repo.NotFound, match="has no theme 999 now"):
        rename_program_theme(settings, PROGRAM, 999, "Anything")
