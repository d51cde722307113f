"""Which sentences hand out or take on work, as the trained detector sees them.

A detector trained on AMI (eval/train_actions.py, models/action_head/) scores every sentence.
AMI's human action items come from the dialogue acts it learned from, which are mostly work being
handed out ("as the industrial designer, you're gonna be working on…"), not only first-person
offers; commitments.py adds the other votes. Kept on its own because training (which imports the
class names and the head's path) needs none of the grammar.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from insightcap.insights.features import dense_features
from insightcap.insights.head import SectionHead
from insightcap.insights.sentences import ParsedSentence
from insightcap.resources import trained_model_file

COMMITMENT = "commitment"
NOT_COMMITMENT = "other"


def action_head_path() -> Path:
    return trained_model_file("action_head")


@lru_cache(maxsize=1)
def load_action_head() -> SectionHead:
    return SectionHead.load(action_head_path())


def commitment_probabilities(sentences: Sequence[ParsedSentence], embeddings: np.ndarray) -> np.ndarray:
    """The detector's probability that each sentence hands out or takes on work."""
    head = load_action_head()
    if not sentences:
        return np.zeros(0)
    last_start = max(max(parsed.sentence.start for parsed in sentences), 1e-6)
    position = np.array([[parsed.sentence.start / last_start] for parsed in sentences], dtype=np.float32)
    dense = np.hstack([dense_features([parsed.span for parsed in sentences], embeddings), position])
    texts = [parsed.sentence.text for parsed in sentences]
    return head.probabilities(texts, dense)[:, head.classes.index(COMMITMENT)]
