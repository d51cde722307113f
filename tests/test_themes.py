"""Program themes across sessions: the pipeline's parts, and theme ids that survive re-clustering."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from test_search import add_session, indexed, settings_copy  # noqa: F401 - shared fixtures

from insightcap.search.indexing import index_session
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.themes.pipeline import (
    OUTLIER,
    AgglomerativeClusterer,
    ClassTfidfDescriber,
)
from insightcap.themes.program import (
    SAME_THEME,
    ThemeDocument,
    cluster_program_themes,
    match_clusters,
    theme_model,
    trend,
)


def test_class_tfidf_prefers_words_distinctive_of_a_cluster() -> None:
    texts = ["the battery lasts a week", "battery life and charging", "the buttons are rubber", "rubber buttons feel soft"]
    keywords = ClassTfidfDescriber(top=2).describe(texts, np.array([0, 0, 1, 1]))
    assert "battery" in keywords[0] and "rubber" in keywords[1] or "buttons" in keywords[1]


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
