"""A program's recurring themes: clustered across its sessions, kept under stable ids over time.

Each re-clustering (after a session is added, re-run or removed) matches its clusters to the
program's existing themes by centroid similarity, so a theme keeps its id, its page and any title
the generator or a facilitator gave it while its members and statistics are refreshed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.optimize import linear_sum_assignment
from sqlalchemy.orm import Session

from insightcap.config import Settings, get_settings
from insightcap.insights.schema import Section
from insightcap.insights.topics import title_from
from insightcap.search.documents import by_given_names
from insightcap.search.indexing import insight_text
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.search_tables import (
    PassageRecord,
    ThemeMemberRecord,
    ThemeRecord,
)
from insightcap.storage.tables import InsightRecord, SessionRecord
from insightcap.themes.pipeline import (
    AgglomerativeClusterer,
    Cluster,
    KeyphraseDescriber,
    ThemeModel,
)
from insightcap.themes.schema import ProgramTheme, ThemeQuote, ThemeRecurrence
from insightcap.wording import in_words

# Centroids this similar are the same theme seen again (MiniLM cosine; unrelated talk is < 0.5).
SAME_THEME = 0.8
QUOTES_PER_THEME = 3
# Where average linkage cuts (cosine distance), by the kind of text clustered: longer texts sit
# closer together, so a 200-word passage needs a tighter cut than an insight's sentence or two.
# Chosen on QMSum train_extra (162 meetings) by within-meeting agreement with the gold topics:
# passages 0.55 (NMI / ARI 0.494 / 0.175, against 0.300 / 0.153 at 0.7); insight-like texts (60
# turns per meeting) 0.7 (NMI 0.410; 0.65 gave 0.414, 0.6 0.408, 0.8 0.345).
THEME_DISTANCE = {"insight": 0.7, "passage": 0.55}


@dataclass(frozen=True)
class ThemeDocument:
    kind: str  # "insight" | "passage"
    row_id: int
    session_id: str
    text: str
    vector: np.ndarray


def session_day(record: SessionRecord) -> date:
    """Where the session goes in the program's order: its date, or the day it was added."""
    return record.session_date or record.created_at.date()


def session_day_label(record: SessionRecord) -> str:
    """The session's date as shown; a session without one shows the day it was added, said so
    ("added 2026-12-01"), as the web app's pages do: as a bare date it would pass for the day the
    session was held."""
    return record.session_date.isoformat() if record.session_date else f"added {record.created_at:%Y-%m-%d}"


def program_session_days(settings: Settings, program: str) -> dict[str, str]:
    """Each of the program's sessions (by id, oldest first, as themes order them) → its day as shown."""
    with session_scope(settings) as db:
        return {record.id: session_day_label(record) for record in program_order(db, repo.program_by_name(db, program).id)}


def program_order(db: Session, program_id: int) -> list[SessionRecord]:
    """The program's sessions that have insights or passages, oldest first; sessions of one day in the
    order they were added. One with neither (still waiting, or stopped before its words were found)
    has nothing to cluster: counted, it would be an empty column on the themes timeline, lower every
    "came up in N of M sessions", and make the latest sessions' themes look as if they faded."""
    sessions = repo.analysed_program_sessions(db, program_id)
    return sorted(sessions, key=lambda record: (session_day(record), record.created_at))


def program_documents(db: Session, sessions: list[SessionRecord]) -> list[ThemeDocument]:
    """A session's insights stand for it when it has any (they are what was worth keeping);
    otherwise its transcript passages do."""
    documents = []
    for record in sessions:
        insights = [row for row in repo.session_insight_rows(db, record.id) if row.embedding]
        rows = insights or [row for row in repo.session_passage_rows(db, record.id) if row.embedding]
        for row in rows:
            is_insight = isinstance(row, InsightRecord)
            documents.append(
                ThemeDocument(
                    kind="insight" if is_insight else "passage",
                    row_id=row.id,
                    session_id=record.id,
                    text=insight_text(row) if is_insight else row.text,
                    vector=np.frombuffer(row.embedding, dtype=np.float32),
                )
            )
    return documents


def theme_model(
    documents: list[ThemeDocument], settings: Settings | None = None, speakers: Iterable[str] = ()
) -> ThemeModel:
    """The theme model for `documents`: the cut of their kind, averaged over the documents when a
    program mixes sessions with insights and sessions without. `settings` name the spaCy model its
    labels are parsed with (by default the configured one); `speakers`' names never name a theme."""
    kinds = [document.kind for document in documents] or ["insight"]
    distance = float(np.mean([THEME_DISTANCE[kind] for kind in kinds]))
    return ThemeModel(
        clusterer=AgglomerativeClusterer(distance=distance),
        describer=KeyphraseDescriber(settings or get_settings(), frozenset(speakers)),
    )


def speakers_of(order: list[SessionRecord]) -> set[str]:
    """Every speaker of the sessions, by transcript label and by the name given to it."""
    return {name for record in order for label in record.speakers or []
            for name in (label, (record.speaker_names or {}).get(label, label))}


def match_clusters(previous: list[np.ndarray], current: list[np.ndarray], threshold: float = SAME_THEME) -> dict[int, int]:
    """current index → previous index, one to one, for pairs whose centroids are similar enough."""
    if not previous or not current:
        return {}
    similarity = np.stack(current) @ np.stack(previous).T
    rows, columns = linear_sum_assignment(-similarity)
    return {int(r): int(c) for r, c in zip(rows, columns) if similarity[r, c] >= threshold}


def trend(per_session: list[int], sizes: list[int]) -> str:
    """Rising, steady or fading: the theme's share of the latest third of sessions against before.

    `per_session` and `sizes` are the theme's and all documents per session, oldest first.
    """
    if len(sizes) < 3:
        return "steady"
    shares = [count / size if size else 0.0 for count, size in zip(per_session, sizes)]
    cut = len(shares) - max(1, len(shares) // 3)
    earlier, recent = float(np.mean(shares[:cut])), float(np.mean(shares[cut:]))
    if recent == 0:
        return "fading"
    if earlier == 0 or recent >= 1.5 * earlier:
        return "rising"
    return "fading" if recent <= 0.5 * earlier else "steady"


def keyword_label(keywords: list[str]) -> str:
    """A theme named by its keyphrases, as a session's topic is ("Rota template, onboarding, buddy")."""
    return title_from(keywords) if keywords else "Unlabelled theme"


# A theme's name shows as a heading and in memos' recurring lines: a sentence at most.
MAX_THEME_LABEL = 120


def rename_program_theme(settings: Settings, program: str, theme_id: int, label: str) -> str:
    """Name one of the program's current themes as a facilitator would ("Keeping new volunteers"), and
    return the name it now has. Such a name survives re-clustering (_update_theme), so the theme keeps
    it while its content is the same; an empty one gives the theme back its keyphrase name."""
    with session_scope(settings) as db:
        program_row = repo.program_by_name(db, program)
        row = db.get(ThemeRecord, theme_id)
        if row is None or row.program_id != program_row.id or not row.active:
            raise repo.NotFound(f"{program_row.name} has no theme {theme_id} now; its themes page lists those it has.")
        row.label = " ".join(label.split())[:MAX_THEME_LABEL] or keyword_label(row.keywords or [])
        return row.label


def _update_theme(
    row: ThemeRecord, cluster: Cluster, documents: list[ThemeDocument], order: list[SessionRecord], sizes: list[int]
) -> list[ThemeMemberRecord]:
    # A title given by the generator or a facilitator survives; a keyword title follows the keywords.
    # Compared whatever the case: earlier versions wrote keyword titles in lower case.
    if not row.label or row.label.lower() == keyword_label(row.keywords or []).lower():
        row.label = keyword_label(cluster.keywords)
    members = [documents[i] for i in cluster.members]
    counts = Counter(document.session_id for document in members)
    seen = [record for record in order if counts[record.id]]
    row.keywords = cluster.keywords
    row.centroid = cluster.centroid.astype(np.float32).tobytes()
    row.count, row.session_count = len(members), len(seen)
    row.first_seen, row.last_seen = session_day(seen[0]), session_day(seen[-1])
    row.trend = trend([counts[record.id] for record in order], sizes)
    row.active = True
    row.description = (
        f"Came up {len(members)} times in {len(seen)} of {len(order)} sessions, "
        f"first {session_day_label(seen[0])}, last {session_day_label(seen[-1])}; about {', '.join(cluster.keywords)}."
    )
    similarity = np.stack([document.vector for document in members]) @ cluster.centroid
    by_closeness = np.argsort(-similarity).tolist()
    # Representative quotes come from different sessions where possible: it is a recurring theme.
    representative: list[int] = []
    for i in by_closeness:
        if len(representative) < QUOTES_PER_THEME and members[i].session_id not in {members[j].session_id for j in representative}:
            representative.append(i)
    for i in by_closeness:
        if len(representative) < QUOTES_PER_THEME and i not in representative:
            representative.append(i)
    return [
        ThemeMemberRecord(
            theme_id=row.id, kind=document.kind, row_id=document.row_id, session_id=document.session_id,
            similarity=float(similarity[i]), representative=i in representative,
        )
        for i, document in enumerate(members)
    ]


def cluster_program_themes(settings: Settings, program: str, model: ThemeModel | None = None) -> list[ProgramTheme]:
    """Re-cluster the program's sessions and store its themes, keeping the ids of themes found again."""
    with session_scope(settings) as db:
        program_row = repo.program_by_name(db, program)
        order = program_order(db, program_row.id)
        documents = program_documents(db, order)
        clusters = (model or theme_model(documents, settings, speakers_of(order))).fit(
            [document.text for document in documents],
            np.stack([document.vector for document in documents]) if documents else np.zeros((0, 1)),
        )
        previous = repo.program_theme_rows(db, program_row.id, active_only=False)
        matches = match_clusters([np.frombuffer(row.centroid, dtype=np.float32) for row in previous],
                                 [cluster.centroid for cluster in clusters])
        sizes = [sum(document.session_id == record.id for document in documents) for record in order]
        kept: set[int] = set()
        for index, cluster in enumerate(clusters):
            row = previous[matches[index]] if index in matches else ThemeRecord(program_id=program_row.id, label="")
            members = _update_theme(row, cluster, documents, order, sizes)
            if row.id is None:
                db.add(row)
                db.flush()
            for member in members:
                member.theme_id = row.id
            repo.replace_theme_members(db, row.id, members)
            kept.add(row.id)
        for row in previous:
            if row.id not in kept:
                row.active = False
                repo.replace_theme_members(db, row.id, [])
    return list_program_themes(settings, program)


def list_program_themes(settings: Settings, program: str) -> list[ProgramTheme]:
    """The program's current themes, most frequent first, with their representative quotes."""
    with session_scope(settings) as db:
        program_row = repo.program_by_name(db, program)
        themes = []
        for row in repo.program_theme_rows(db, program_row.id):
            members = repo.theme_member_rows(db, row.id)
            themes.append(
                ProgramTheme(
                    id=row.id, program=program_row.name, label=row.label, description=row.description,
                    keywords=row.keywords, session_ids=list(dict.fromkeys(member.session_id for member in members)),
                    first_seen=row.first_seen, last_seen=row.last_seen, count=row.count, trend=row.trend,
                    quotes=[quote for member in members if member.representative
                            if (quote := _quote(db, member)) is not None],
                )
            )
        return themes


def _quote(db: Session, member: ThemeMemberRecord) -> ThemeQuote | None:
    table = InsightRecord if member.kind == "insight" else PassageRecord
    row = db.get(table, member.row_id)
    record = db.get(SessionRecord, member.session_id)
    if row is None or record is None:
        return None
    # A passage is a stretch of conversation: it is credited to everyone speaking in it.
    labels = [row.speaker] if member.kind == "insight" else row.speakers
    speaker = in_words(by_given_names(labels, record.speaker_names or {})) or None
    return ThemeQuote(
        session_id=record.id, session_title=record.title, session_date=session_day(record), speaker=speaker,
        text=row.quote if member.kind == "insight" else row.text, start=row.start, end=row.end,
    )


def session_theme_links(settings: Settings, session_id: str) -> dict[int, list[ThemeRecurrence]]:
    """Topic index → the program themes the session's insights of that topic were clustered into,
    the theme holding most of them first, each counted up to this session (see ThemeRecurrence).
    A theme is linked from one topic only, the one holding most of its insights in this session:
    linked from two, the memo would say the same "came up in …" under both.

    Empty for a session outside any program. The earlier moment is the closest member from the
    most recent earlier session: "what was said last time" is what a facilitator picks up on.
    """
    with session_scope(settings) as db:
        record = repo.get_session(db, session_id)
        if record.program is None:
            return {}
        order = program_order(db, record.program.id)
        if record not in order:  # nothing of it clustered yet
            return {}
        so_far = {earlier.id: position for position, earlier in enumerate(order[: order.index(record) + 1])}
        # The memo lists commitments on their own, not under a theme (memo/draft.py), so they do not
        # decide which topic a theme is linked from.
        topic_of = {
            row.id: row.topic_index
            for row in repo.session_insight_rows(db, record.id)
            if row.section != Section.ACTION_ITEM
        }
        links: dict[int, list[tuple[int, ThemeRecurrence]]] = defaultdict(list)
        for theme in repo.program_theme_rows(db, record.program.id):
            members = [member for member in repo.theme_member_rows(db, theme.id) if member.session_id in so_far]
            topics = Counter(
                topic_of[member.row_id]
                for member in members
                if member.session_id == record.id and member.kind == "insight" and member.row_id in topic_of
            )
            if not topics:
                continue
            seen = sorted({so_far[member.session_id] for member in members})
            # Members come closest first, so max() keeps the closest of the latest earlier session.
            before = [member for member in members if so_far[member.session_id] < so_far[record.id]]
            latest = max(before, key=lambda member: so_far[member.session_id], default=None)
            recurrence = ThemeRecurrence(
                theme_id=theme.id, program=record.program.name, label=theme.label,
                sessions_seen=len(seen), sessions_so_far=len(so_far), first_seen=session_day(order[seen[0]]),
                earlier=_quote(db, latest) if latest else None,
            )
            # On a tie, the topic of the member closest to the theme's centre (members come closest first).
            topic, count = topics.most_common(1)[0]
            links[topic].append((count, recurrence))
        return {
            topic: [recurrence for _, recurrence in sorted(found, key=lambda pair: -pair[0])]
            for topic, found in links.items()
        }
