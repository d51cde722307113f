"""Themes across meetings on QMSum: the product's theme pipeline against gold topics.

The passages of all meetings are clustered together by the product's theme code, without being told
how many themes there are. Within each meeting the clusters are compared with the annotators' topics
(NMI, ARI; a passage's gold topic is the one most of its turns belong to, passages in unannotated
gaps are left out, outliers count as one cluster), beside k-means given the gold number of topics
per meeting on the same embeddings. Themes spanning two or more meetings of the same AMI series
(ES2006a–d …) are counted and a few are printed: a program's recurring themes.

    python -m eval.themes --data ../shared/eval [--workdir /tmp/retrieval]  # reuse eval.retrieval's index
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from eval.common import argument_parser, print_table, report
from eval.pipeline_inputs import AMI_MEETING
from eval.retrieval import import_meetings, read_jsonl, settings_for


def gold_topic(turn_topic: dict[int, int], first: int, last: int) -> int | None:
    votes = Counter(turn_topic[turn] for turn in range(first, last + 1) if turn in turn_topic)
    return votes.most_common(1)[0][0] if votes else None


def within_meeting_scores(meetings: list[str], gold: list[int], predicted: list[int]) -> tuple[float, float]:
    by_meeting = defaultdict(list)
    for i, meeting in enumerate(meetings):
        by_meeting[meeting].append(i)
    nmi, ari = [], []
    for rows in by_meeting.values():
        truth, guess = [gold[i] for i in rows], [predicted[i] for i in rows]
        nmi.append(normalized_mutual_info_score(truth, guess))
        ari.append(adjusted_rand_score(truth, guess))
    return float(np.mean(nmi)), float(np.mean(ari))


def main() -> None:
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope
    from insightcap.themes.program import program_documents, theme_model

    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="a data dir eval.retrieval kept (--workdir) to reuse")
    args = parser.parse_args()
    settings = settings_for(args.workdir)
    meetings = read_jsonl(args.data / "qmsum" / "meetings.jsonl")
    import_meetings(settings, meetings)
    topics = {row["meeting_id"]: row["topics"] for row in read_jsonl(args.data / "qmsum" / "topics.jsonl")}
    with session_scope(settings) as db:
        sessions = repo.list_sessions(db)
        documents = program_documents(db, sessions)
        spans = {row.id: (row.first_segment, row.last_segment) for s in sessions for row in repo.session_passage_rows(db, s.id)}
    texts = [document.text for document in documents]
    vectors = np.stack([document.vector for document in documents])
    clusters = theme_model(documents).fit(texts, vectors)
    predicted = np.full(len(documents), -1)
    for number, cluster in enumerate(clusters):
        predicted[cluster.members] = number

    turn_topics = {
        meeting_id: {turn: t for t, topic in enumerate(meeting_topics) for a, b in topic["spans"] for turn in range(a, b + 1)}
        for meeting_id, meeting_topics in topics.items()
    }
    rows = []
    for i, document in enumerate(documents):
        topic = gold_topic(turn_topics[document.session_id], *spans[document.row_id])
        if topic is not None:
            rows.append((i, document.session_id, topic))
    index = [i for i, _, _ in rows]
    meeting_of = [meeting for _, meeting, _ in rows]
    gold = [f"{meeting}/{topic}" for _, meeting, topic in rows]
    ours_nmi, ours_ari = within_meeting_scores(meeting_of, gold, predicted[index].tolist())

    kmeans_labels = [""] * len(rows)
    by_meeting = defaultdict(list)
    for position, meeting in enumerate(meeting_of):
        by_meeting[meeting].append(position)
    for meeting, positions in by_meeting.items():
        k = min(len({gold[p] for p in positions}), len(positions))
        found = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(vectors[[index[p] for p in positions]])
        for p, label in zip(positions, found):
            kmeans_labels[p] = f"{meeting}/{label}"
    kmeans_nmi, kmeans_ari = within_meeting_scores(meeting_of, gold, kmeans_labels)

    global_nmi = normalized_mutual_info_score(gold, predicted[index])
    per_meeting_nmi = normalized_mutual_info_score(gold, meeting_of)

    recurring = []
    for number, cluster in enumerate(clusters):
        series = defaultdict(set)
        for member in cluster.members:
            if match := AMI_MEETING.match(documents[member].session_id):
                series[match["series"]].add(documents[member].session_id)
        spanning = {name: sorted(ids) for name, ids in series.items() if len(ids) >= 2}
        if spanning:
            recurring.append((number, cluster, spanning))
    outliers = float(np.mean(predicted == -1))

    print_table(
        f"Themes over {len(documents)} passages of {len(meetings)} meetings ({len(clusters)} themes, {outliers:.0%} outliers)",
        ["method", "within-meeting NMI", "within-meeting ARI", "all-meetings NMI"],
        [["ours (no count given)", ours_nmi, ours_ari, global_nmi],
         ["k-means (gold count per meeting)", kmeans_nmi, kmeans_ari, "-"],
         ["one cluster per meeting", 0.0, 0.0, per_meeting_nmi]],
    )
    print_table(
        f"{len(recurring)} themes recurring within an AMI series (first 8)",
        ["theme", "size", "keywords", "meetings"],
        [[number, len(cluster.members), ", ".join(cluster.keywords[:5]),
          "; ".join(f"{name}: {','.join(ids)}" for name, ids in spanning.items())]
         for number, cluster, spanning in recurring[:8]],
    )
    report("themes", {
        "ours": {"nmi": round(ours_nmi, 4), "ari": round(ours_ari, 4), "cross_meeting_themes": len(recurring),
                 "themes": len(clusters), "outlier_share": round(outliers, 4), "all_meetings_nmi": round(global_nmi, 4)},
        "kmeans": {"nmi": round(kmeans_nmi, 4), "ari": round(kmeans_ari, 4)},
        "per_meeting": {"nmi": round(per_meeting_nmi, 4)},
    })


if __name__ == "__main__":
    main()
