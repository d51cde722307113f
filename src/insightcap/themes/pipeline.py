"""Finding themes in a set of embedded texts, BERTopic-style: cluster → describe.

Each step is a small object with one method, so a caller can swap one (another clusterer, another
way to name a cluster) without touching the other. Nobody says how many themes there are: the
clusterer decides, and texts that fit no theme stay outliers rather than being forced into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import faiss
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform
from spacy.tokens import Span

from insightcap.config import Settings, get_settings
from insightcap.insights.nlp import load_nlp
from insightcap.insights.topics import keywords_by_topic

OUTLIER = -1


class Clusterer(Protocol):
    def cluster(self, vectors: np.ndarray) -> np.ndarray:
        """A cluster label per row, OUTLIER for rows that belong to none."""
        ...


class Describer(Protocol):
    def describe(self, texts: Sequence[str], labels: np.ndarray) -> dict[int, list[str]]:
        """Keywords per cluster label, most characteristic first."""
        ...


@dataclass
class AgglomerativeClusterer:
    """Average-linkage clusters no wider than `distance` (cosine); clusters under `min_size` are outliers.

    Average linkage holds every pairwise distance, so its memory and time grow with the square of the
    number of texts (12,000 texts: 1.3 GB). Beyond `most_linked` texts — a program of many months —
    the texts are first grouped into `most_linked` tight k-means groups, far narrower than a theme,
    and the groups are linked instead (each group counting once as clusters merge): the cost then grows
    linearly with the texts: in eval.themes a program of 30,000 insights clusters in 8 CPU-seconds
    and 0.66 GB.
    """

    distance: float = 0.7
    min_size: int = 3
    most_linked: int = 5000

    def cluster(self, vectors: np.ndarray) -> np.ndarray:
        if len(vectors) < 2:
            return np.full(len(vectors), OUTLIER)
        if len(vectors) <= self.most_linked:
            labels = self._link(pdist(vectors, "cosine"))
        else:
            group_of = _tight_groups(vectors, self.most_linked)
            labels = self._link(_mean_group_distances(vectors, group_of))[group_of]
        sizes = np.bincount(labels)
        return np.where(sizes[labels] >= self.min_size, labels, OUTLIER)

    def _link(self, condensed_distances: np.ndarray) -> np.ndarray:
        """Labels from 0 of the average-linkage tree cut at `distance`."""
        tree = linkage(condensed_distances, method="average")
        return fcluster(tree, t=self.distance, criterion="distance") - 1


def _tight_groups(vectors: np.ndarray, count: int) -> np.ndarray:
    """Each vector's group among `count` spherical k-means groups (faiss, seeded), numbered from 0
    with no empty group."""
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    kmeans = faiss.Kmeans(data.shape[1], count, niter=10, seed=0, spherical=True, verbose=False)
    # faiss asks for 39 points per centroid; tight groups of a few texts each are the point here.
    kmeans.cp.min_points_per_centroid = 1
    kmeans.train(data)
    _, nearest = kmeans.index.search(data, 1)
    return np.unique(nearest[:, 0], return_inverse=True)[1]


def _mean_group_distances(vectors: np.ndarray, group_of: np.ndarray) -> np.ndarray:
    """The mean cosine distance between the texts of two groups, for every pair of groups (condensed).

    For unit vectors the mean of the pairwise dot products is the dot product of the (unnormalised)
    means, so this is exactly the distance average linkage uses between the two groups' texts.
    """
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sums = np.zeros((group_of.max() + 1, unit.shape[1]), dtype=np.float32)
    np.add.at(sums, group_of, unit)
    means = sums / np.bincount(group_of)[:, None]
    distances = np.clip(1.0 - means @ means.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    return squareform(distances, checks=False)


# Texts parsed to name the themes: up to TEXTS_PER_THEME each, enough for a theme's recurring phrases
# to stand out, and TEXTS_IN_ALL at most (but FEWEST_TEXTS_PER_THEME each), so a program of tens of
# thousands of insights in hundreds of themes is named in seconds rather than minutes.
TEXTS_PER_THEME = 100
TEXTS_IN_ALL = 3000
FEWEST_TEXTS_PER_THEME = 10


def _spread(indices: np.ndarray, most: int) -> list[int]:
    """At most `most` of `indices`, evenly spread: texts come in session order, so a theme is named
    from all of the sessions it came up in."""
    if len(indices) <= most:
        return indices.tolist()
    return indices[np.linspace(0, len(indices) - 1, most).round().astype(int)].tolist()


@dataclass
class KeyphraseDescriber:
    """A theme's keyphrases picked as a session's topics are (insights/topics.py): lemmatised nouns,
    names and noun chunks ranked by class-based TF-IDF, so a program theme is named like the topics
    in its memos ("remote control, battery") and not by the verbs and fillers people talk with
    ("using, let, draw"). Each text counts as one sentence, so a term found all through the program
    ("meeting", "project") is weighed down."""

    settings: Settings = field(default_factory=get_settings)  # names the spaCy model to parse with
    # The program's speakers: their names are who talked, not what about.
    speakers: frozenset[str] = frozenset()

    def describe(self, texts: Sequence[str], labels: np.ndarray) -> dict[int, list[str]]:
        clusters = sorted(set(labels.tolist()) - {OUTLIER})
        if not clusters:
            return {}
        spans: dict[int, list[Span]] = {cluster: [] for cluster in clusters}
        per_theme = max(FEWEST_TEXTS_PER_THEME, min(TEXTS_PER_THEME, TEXTS_IN_ALL // len(clusters)))
        members = sorted(
            index for cluster in clusters for index in _spread(np.flatnonzero(labels == cluster), per_theme)
        )
        # Named entities keep people's names and dates out of the keyphrases (topics.candidate_terms).
        parsed = load_nlp(self.settings).pipe(texts[index] for index in members)
        for index, doc in zip(members, parsed, strict=True):
            spans[int(labels[index])].append(doc[:])
        keywords = keywords_by_topic([spans[cluster] for cluster in clusters], self.speakers)
        return dict(zip(clusters, keywords, strict=True))


@dataclass
class Cluster:
    label: int
    members: list[int]
    centroid: np.ndarray
    keywords: list[str] = field(default_factory=list)


@dataclass
class ThemeModel:
    """The default is average-linkage clustering of the vectors as they are, with no reduction of
    their 384 dimensions first (a program's themes set
    its cut by the kind of text, themes/program.py): on the QMSum meetings of eval.themes it scores
    within-meeting NMI 0.427 without being told how many themes there are, against 0.403 for k-means
    given the gold number of topics."""

    clusterer: Clusterer = field(default_factory=AgglomerativeClusterer)
    describer: Describer = field(default_factory=KeyphraseDescriber)

    def fit(self, texts: Sequence[str], vectors: np.ndarray) -> list[Cluster]:
        """Clusters of the texts, largest first; centroids are unit means of the vectors, so they can
        be compared across fits."""
        if len(texts) == 0:
            return []
        labels = np.asarray(self.clusterer.cluster(vectors))
        keywords = self.describer.describe(texts, labels)
        clusters = []
        for label in sorted(set(labels.tolist()) - {OUTLIER}):
            members = np.flatnonzero(labels == label).tolist()
            centroid = vectors[members].mean(axis=0)
            clusters.append(
                Cluster(label, members, centroid / max(np.linalg.norm(centroid), 1e-12), keywords.get(label, []))
            )
        return sorted(clusters, key=lambda cluster: -len(cluster.members))
