"""What the section head sees of a sentence besides its words: its embedding and a few syntax cues.

Training (eval/train_sections.py) and the product call the same functions, so the head is always
fed exactly the features it was trained on. The syntax cues come from spaCy's parse and
morphology, not from word lists: whether the sentence is asked (inverted auxiliary or wh-word
up front, or a question mark), and who commits to what (the person of the subject of a modal).
"""

from __future__ import annotations

import numpy as np
from spacy.tokens import Span, Token

from insightcap.insights.nlp import word_tokens

LINGUISTIC_FEATURES = (
    "question_mark",
    "question_form",
    "first_singular_modal",
    "first_plural_modal",
    "second_person_modal",
    "imperative",
    "log_words",
)
_WH_TAGS = frozenset({"WDT", "WP", "WP$", "WRB"})
_SKIPPABLE_OPENERS = frozenset({"INTJ", "CCONJ", "PUNCT", "SPACE"})


def _opening_token(span: Span) -> Token | None:
    """The first token after interjections and conjunctions ("So, um, what do we…" → "what")."""
    for token in span:
        if token.pos_ not in _SKIPPABLE_OPENERS and token.lower_ != "so":
            return token
    return None


def _subject_person(verb: Token) -> tuple[str, str] | None:
    for child in verb.children:
        if child.dep_ in {"nsubj", "nsubjpass"}:
            person = child.morph.get("Person")
            number = child.morph.get("Number")
            return (person[0] if person else "3", number[0] if number else "")
    return None


def _modal_subjects(span: Span) -> set[tuple[str, str]]:
    """(person, number) of the subject of every verb that carries a modal or a "going to" future."""
    found: set[tuple[str, str]] = set()
    for token in span:
        is_modal = token.tag_ == "MD"
        is_going_to = (
            token.lemma_ == "go"
            and token.tag_ == "VBG"
            and any(child.dep_ == "xcomp" for child in token.children)
        )
        if not (is_modal or is_going_to):
            continue
        verb = token.head if is_modal else token
        subject = _subject_person(verb) or (
            _subject_person(token) if is_going_to else None
        )
        if subject:
            found.add(subject)
    return found


def linguistic_features(span: Span) -> np.ndarray:
    words = word_tokens(span)
    opening = _opening_token(span)
    question_form = opening is not None and (
        opening.tag_ in _WH_TAGS
        or (
            opening.pos_ == "AUX"
            and any(
                c.dep_ == "nsubj" and c.i > opening.i for c in opening.head.children
            )
        )
    )
    subjects = _modal_subjects(span)
    imperative = (
        opening is not None
        and opening.tag_ == "VB"
        and opening.dep_ == "ROOT"
        and not any(
            child.dep_ == "nsubj" and child.i < opening.i for child in opening.children
        )
    )
    return np.array(
        [
            float(span.text.rstrip().endswith("?")),
            float(question_form),
            float(("1", "Sing") in subjects),
            float(("1", "Plur") in subjects),
            float(any(person == "2" for person, _ in subjects)),
            float(imperative),
            float(np.log1p(len(words))),
        ],
        dtype=np.float32,
    )


def dense_features(spans: list[Span], embeddings: np.ndarray) -> np.ndarray:
    """Embedding plus syntax cues, one row per sentence.

    The neighbouring sentences' embeddings were tried as context and lowered validation macro-F1
    (0.63 → 0.60 with a linear head), so each sentence is judged on its own words.
    """
    if not spans:
        return np.zeros(
            (0, embeddings.shape[1] + len(LINGUISTIC_FEATURES)), dtype=np.float32
        )
    cues = np.stack([linguistic_features(span) for span in spans])
    return np.hstack([embeddings, cues]).astype(np.float32)
