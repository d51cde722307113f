"""The spaCy pipeline the structure stage parses with, loaded once per process.

The package name comes from models/manifest.toml (the `spacy_package` of the configured NLP
model), so swapping the model is a configuration change, not a code change.
"""

from __future__ import annotations

from functools import lru_cache

from spacy.language import Language
from spacy.tokens import Span, Token

from insightcap.config import Settings
from insightcap.weights import ModelUnavailable, get_spec

# Parts of speech that carry meaning on their own; pronouns, auxiliaries, interjections and
# function words do not, which is what separates "Okay, yeah." from a statement.
CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "NUM"})


@lru_cache(maxsize=2)
def _load(package: str) -> Language:
    import spacy

    try:
        return spacy.load(package)
    except OSError as error:
        raise ModelUnavailable(
            f"The spaCy model '{package}' is not installed. Install it with: pip install "
            f"{package.replace('_', '-')}"
        ) from error


def load_nlp(settings: Settings) -> Language:
    spec = get_spec(settings.nlp_model)
    if not spec.spacy_package:
        raise ModelUnavailable(
            f"Model '{settings.nlp_model}' in models/manifest.toml names no spacy_package; "
            "set INSIGHTCAP_NLP_MODEL to a spaCy model entry such as 'spacy-en-sm'."
        )
    return _load(spec.spacy_package)


def word_tokens(span: Span) -> list[Token]:
    return [token for token in span if not (token.is_punct or token.is_space)]


def content_words(span: Span) -> list[Token]:
    return [token for token in span if token.pos_ in CONTENT_POS and not token.is_stop]
