"""Decides which section each sentence belongs to.

Questions, ideas, commitments (action items), reactions and context come from the head trained on
AMI dialogue acts (head.py; figures in models/section_head/README.md). AMI has no label for a
strategy (a practice someone reports worked) or a resource (a named tool, template, document or
link), so those two are derived: from the sentence's closeness to a few prototype descriptions
(prompts/section_prototypes.toml) and, for resources, from what spaCy finds named in it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from spacy.tokens import Span

from insightcap.insights.features import dense_features
from insightcap.insights.head import load_head
from insightcap.insights.schema import Section
from insightcap.insights.sentences import ParsedSentence
from insightcap.resources import prompt_text
from insightcap.themes.embed import Embedder

# The head's "other" class (backchannels, fragments, stalls) has no section.
OTHER = "other"
# Entity types that name things a person can go and use.
RESOURCE_ENTITIES = frozenset({"PRODUCT", "WORK_OF_ART", "ORG", "LAW"})
# Sections a strategy or a resource may be refined from: a commitment or a question stays one.
_REFINABLE = frozenset({Section.IDEA, Section.CONTEXT, Section.REACTION})
# A resource may also be mentioned in passing (the head's "other") or while telling a strategy.
_RESOURCE_SOURCES = _REFINABLE | {Section.STRATEGY, None}


@dataclass(frozen=True)
class SectionCall:
    """The section of one sentence (None: not insight material) and how sure the call is."""

    section: Section | None
    confidence: float
    resource_name: str | None = None


@dataclass(frozen=True)
class Prototypes:
    vectors: np.ndarray
    threshold: float

    def closeness(self, embeddings: np.ndarray) -> np.ndarray:
        """Cosine similarity of each embedding to its nearest prototype."""
        return (
            (embeddings @ self.vectors.T).max(axis=1)
            if len(embeddings)
            else np.zeros(0)
        )


@lru_cache(maxsize=2)
def _prototype_texts() -> dict[str, dict]:
    return tomllib.loads(prompt_text("section_prototypes.toml"))


def load_prototypes(embedder: Embedder, section: Section) -> Prototypes:
    entry = _prototype_texts()[section.value]
    return Prototypes(
        vectors=embedder.encode(entry["prototypes"]),
        threshold=float(entry["threshold"]),
    )


def _named_candidates(span: Span) -> list[str]:
    """Named entities of a usable kind, then noun chunks that contain a name."""
    entities = [
        entity.text for entity in span.ents if entity.label_ in RESOURCE_ENTITIES
    ]
    chunks = [
        chunk.text
        for chunk in span.noun_chunks
        if any(token.pos_ == "PROPN" for token in chunk)
    ]
    return entities + chunks


def _resource_calls(
    sentences: list[ParsedSentence],
    embeddings: np.ndarray,
    sections: list[SectionCall],
    embedder: Embedder,
) -> dict[int, SectionCall]:
    prototypes = load_prototypes(embedder, Section.RESOURCE)
    closeness = prototypes.closeness(embeddings)
    calls: dict[int, SectionCall] = {}
    for index, parsed in enumerate(sentences):
        section = sections[index].section
        if section not in _RESOURCE_SOURCES and section != Section.ACTION_ITEM:
            continue
        links = [token.text for token in parsed.span if token.like_url]
        candidates = _named_candidates(parsed.span)
        if links:
            # A link is a resource whatever the sentence sounds like.
            name, confidence = (
                links[0],
                max(float(closeness[index]), prototypes.threshold),
            )
        elif candidates and closeness[index] >= prototypes.threshold:
            # The name that sounds most like a resource: "the template" beats "Tuesday".
            name = candidates[
                int(np.argmax(prototypes.closeness(embedder.encode(candidates))))
            ]
            confidence = float(closeness[index])
        else:
            continue
        if section == Section.ACTION_ITEM:
            # A promise to share something stays a commitment; it just names what is shared.
            calls[index] = SectionCall(section, sections[index].confidence, name)
        else:
            calls[index] = SectionCall(Section.RESOURCE, confidence, name)
    return calls


def classify_sentences(
    sentences: list[ParsedSentence], embeddings: np.ndarray, embedder: Embedder
) -> list[SectionCall]:
    """One call per sentence, in order. `embeddings` are the sentences' unit-length embeddings."""
    if not sentences:
        return []
    head = load_head()
    texts = [parsed.sentence.text for parsed in sentences]
    probabilities = head.probabilities(
        texts, dense_features([parsed.span for parsed in sentences], embeddings)
    )
    calls = []
    for row in probabilities:
        best = int(row.argmax())
        name = head.classes[best]
        calls.append(
            SectionCall(None if name == OTHER else Section(name), float(row[best]))
        )

    strategy = load_prototypes(embedder, Section.STRATEGY)
    for index, closeness in enumerate(strategy.closeness(embeddings)):
        if calls[index].section in _REFINABLE and closeness >= strategy.threshold:
            calls[index] = SectionCall(Section.STRATEGY, float(closeness))
    for index, call in _resource_calls(sentences, embeddings, calls, embedder).items():
        calls[index] = call
    return calls
