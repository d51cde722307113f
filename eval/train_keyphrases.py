"""Builds the keyphrase background: `python -m eval.train_keyphrases --data DIR`.

Counts, over the QMSum training meetings (DIR/qmsum/train_extra/: committees, research groups and
design teams), in how many meetings each candidate keyphrase (insightcap.insights.topics.candidate_terms)
is said. Terms said in most meetings ("lot", "point", "guy", "way") are how meetings talk, not what
they are about; a session's topics and a program's themes are named by terms that are rare in that
background. The 35 main meetings are never read. Writes models/keyphrase_background/background.npz
(terms and their meeting counts, as plain arrays).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from eval.common import argument_parser
from eval.pipeline_inputs import qmsum_transcript, read_jsonl
from insightcap.config import Settings
from insightcap.insights.nlp import load_nlp
from insightcap.insights.topics import (
    BACKGROUND_MIN_MEETINGS,
    background_path,
    candidate_terms,
)
from insightcap.resources import meta_array, save_model_arrays


def main() -> None:
    args = argument_parser(__doc__.splitlines()[0]).parse_args()
    nlp = load_nlp(Settings())
    path = args.data / "qmsum" / "train_extra" / "meetings.jsonl"
    meetings = Counter[str]()
    count = 0
    for meeting in read_jsonl(path):
        texts = [segment.text for segment in qmsum_transcript(meeting).transcript.segments]
        said = {term for doc in nlp.pipe(texts, batch_size=64) for sentence in doc.sents for term, _ in candidate_terms(sentence)}
        meetings.update(said)
        count += 1
        print(f"{count:3d} {meeting['meeting_id']}: {len(said)} terms", flush=True)
    kept = sorted(term for term, seen in meetings.items() if seen >= BACKGROUND_MIN_MEETINGS)
    save_model_arrays(
        background_path(),
        {
            "terms": np.array(kept),
            "meetings_seen": np.array([meetings[term] for term in kept], dtype=np.int32),
            "meta": meta_array({"meetings": count, "min_meetings": BACKGROUND_MIN_MEETINGS, "source": "qmsum/train_extra"}),
        },
    )
    most = sorted(kept, key=lambda term: -meetings[term])[:30]
    print(f"{len(kept)} terms said in {BACKGROUND_MIN_MEETINGS}+ of {count} meetings; the most common: {', '.join(most)}")


if __name__ == "__main__":
    main()
