"""The spaCy pipeline the structure stage parses with, loaded once per process.

The package name comes from models/manifest.toml (the `spacy_package` of the configured NLP
model), so swapping the model is a configuration change, not a code change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import islice

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


def _next_to_interjection(token: Token) -> bool:
    doc = token.doc
    return any(
        0 <= i < len(doc) and doc[i].pos_ == "INTJ" for i in (token.i - 1, token.i + 1)
    )


def _joined(tokens: list[Token]) -> str:
    """Tokens as text, keeping the original spacing where they were adjacent."""
    pieces: list[str] = []
    for position, token in enumerate(tokens):
        if position:
            previous = tokens[position - 1]
            if previous.i + 1 == token.i:
                pieces.append(previous.whitespace_)
            elif not token.is_punct:
                # The spacing the token had before whatever was dropped in front of it.
                pieces.append(token.doc[token.i - 1].whitespace_)
        pieces.append(token.text)
    return "".join(pieces)


def fluent_text(tokens: Iterable[Token]) -> str:
    """The words without disfluencies: interjections ("um", "uh", "oh") and immediate repeats
    ("the the", "it's it's", "I think, I think") dropped, with the commas around them."""
    kept: list[Token] = []
    for token in tokens:
        if token.pos_ == "INTJ" or token.is_space:
            continue
        if kept and not token.is_punct and token.lower_ == kept[-1].lower_:
            continue
        if kept and _cut_off_before(kept[-1], token):
            kept.pop()
        if token.text in {",", ";", "-", "--"} and (
            not kept or kept[-1].is_punct or _next_to_interjection(token)
        ):
            continue
        kept.append(token)
        if not token.is_punct:
            _drop_repeated_run(kept)
    return re.sub(r"\s*[,;]\s*([.?!]|$)", r"\1", _joined(kept)).strip()


# The longest word start taken for a speaker cutting themselves off ("see wh what", "a pro product").
FALSE_START_LETTERS = 3


def _cut_off_before(previous: Token, token: Token) -> bool:
    """Whether `previous` is the start of `token` said and abandoned ("wh" before "what"); a word
    that is a word of its own ("to today's", "a about") is not."""
    start = previous.lower_
    return (
        previous.is_alpha
        and len(start) <= FALSE_START_LETTERS
        and not previous.is_stop
        and token.lower_.startswith(start)
        and token.lower_ != start
    )


# Runs of this many words said twice in a row are a speaker restarting ("it's it's", "I think I
# think"); one word said twice is caught as the tokens arrive.
REPEATED_RUN_WORDS = (4, 3, 2)


def _drop_repeated_run(kept: list[Token]) -> None:
    """If `kept` ends with a run of words said twice in a row, drop the second saying (and any
    punctuation before it)."""
    # Only the last 2 × the longest run of words can matter: a long unpunctuated sentence costs no more.
    from_the_end = (position for position in reversed(range(len(kept))) if not kept[position].is_punct)
    words = list(islice(from_the_end, 2 * max(REPEATED_RUN_WORDS)))[::-1]
    for length in REPEATED_RUN_WORDS:
        if len(words) < 2 * length:
            continue
        second = [kept[position].lower_ for position in words[-length:]]
        first = [kept[position].lower_ for position in words[-2 * length : -length]]
        if second == first:
            del kept[words[-length - 1] + 1 :]
            return
