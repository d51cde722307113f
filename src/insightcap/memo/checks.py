"""Checks a generated follow-up question, theme title or summary against the evidence it was asked about.

A 0.5B model writes good questions often, but not always: it echoes the instructions, asks yes/no
questions, or drifts to generic advice. Each check returns the problem in words (fed back to the
model on its one retry, and logged) or None when the text is usable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from spacy.language import Language

from insightcap.insights.nlp import content_words
from insightcap.themes.embed import Embedder

# Openers that make a question answerable by yes or no, which ends a discussion instead of opening one.
CLOSED_OPENERS = frozenset(
    "is are am was were do does did can could will would should shall has have had may might must".split()
)
QUESTION_WORDS = (6, 30)
TITLE_WORDS = (3, 8)
# Sharing this many words in a row with the instructions (and not with the evidence) is copying.
COPIED_RUN = 4
# A follow-up may quote a phrase; repeating this many words of a participant's own question is
# asking it again, not following up.
ECHOED_RUN = 6
# A title with this many commas is a list of key words ("Personal Coach: Work, Bit, Guy, Room"),
# not a phrase saying what was discussed; "Rubber, plastic and a bleep" is still a title.
LIST_TITLE_COMMAS = 2
# Instruction words a reply may reuse (e.g. "idea"); more than this and it is echoing the request.
MAX_INSTRUCTION_ONLY_WORDS = 2
DUPLICATE_COSINE = 0.9
# A topic's summary is asked for in two sentences: one more is tolerated, but shorter says nothing
# and longer is rambling or copying the transcript.
SUMMARY_LENGTH_WORDS = (12, 80)
MAX_SUMMARY_SENTENCES = 3
# A summary reports the discussion in its own words ("the importance of", "proposed"), so some of its
# content words are neither the participants' nor the instructions' ("The group discussed"); more
# than this share of them means it is making things up ("project management and technology").
SUMMARY_MAX_FOREIGN_SHARE = 1 / 3
# A phrase of up to this many words said again at once ("the roles, the roles") is a small model
# looping, not a summary; REPEAT_GAP words may stand between the two sayings.
REPEATED_PHRASE_WORDS = 3
REPEAT_GAP = 1
# Pronouns of someone speaking for themselves: a summary reports what people said in the third person.
FIRST_PERSON = frozenset({"i", "we", "my", "our", "us", "me"})
# A follow-up that pastes this many words of a participant's sentence, speaking for themselves, outside
# quotation marks has grafted their voice into the facilitator's ("What would you do if the issue was
# more serious we probably woulda brainstormed more?").
GRAFTED_RUN = 4

_WORD = re.compile(r"[a-z0-9][a-z0-9'’-]*")
# A sentence ends at . ! ; or : before a capital letter, unless the full stop closes an abbreviation.
_BREAK = re.compile(r"(\w+)([.!;:])\s+(?=[A-Z])")
# A note in brackets after the reply's last sentence, as the model adds "(Speaker 1)" to say whose
# words it drew on: not part of the question or title.
_TRAILING_NOTE = re.compile(r"(?<=[.?!])\s*\([^()]*\)$")
# A phrase the reply quotes, in curly or straight double quotes.
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")
# What a chat model wraps a reply in: spaces, quotes, bold and code markers.
_WRAPPING = " \"'“”*`"
ABBREVIATIONS = frozenset({"vs", "etc", "mr", "mrs", "ms", "dr", "st", "no"})


def clean_reply(reply: str) -> str:
    """The reply without the wrapping a chat model likes to add: quotes, bold markers, blank lines,
    a bracketed note after its last sentence."""
    text = " ".join(reply.split()).strip(_WRAPPING)
    return _TRAILING_NOTE.sub("", text).strip(_WRAPPING)


def content_lemmas(nlp: Language, text: str) -> set[str]:
    # Lower-cased first: a Title Case Reply would otherwise be tagged as proper nouns, unlemmatised.
    return {token.lemma_ for token in content_words(nlp(text.lower())[:])}


def _sentence_breaks(text: str) -> int:
    return sum(
        1 for match in _BREAK.finditer(text) if not (match[2] == "." and match[1].lower() in ABBREVIATIONS)
    )


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _runs(words: Sequence[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def _copied_run_problem(reply: str, evidence: str, instructions: str) -> str | None:
    copied = _runs(_words(reply), COPIED_RUN) & _runs(_words(instructions), COPIED_RUN)
    copied -= _runs(_words(evidence), COPIED_RUN)
    if copied:
        return f"it copies the instructions (“{' '.join(sorted(copied)[0])}”)"
    return None


def _copy_problem(reply: str, evidence: str, instructions: str, nlp: Language) -> str | None:
    copied = _copied_run_problem(reply, evidence, instructions)
    if copied:
        return copied
    echoed = content_lemmas(nlp, reply) & content_lemmas(nlp, instructions) - content_lemmas(nlp, evidence)
    if len(echoed) > MAX_INSTRUCTION_ONLY_WORDS:
        return f"it repeats words of the instructions ({', '.join(sorted(echoed))}) instead of the discussion"
    return None


def _grafted_voice(question: str, evidence: str) -> str | None:
    """A run of the evidence's words in a participant's first person, pasted into `question` unquoted."""
    pasted = _runs(_words(_QUOTED.sub(" ", question)), GRAFTED_RUN) & _runs(_words(evidence), GRAFTED_RUN)
    voiced = sorted(" ".join(run) for run in pasted if FIRST_PERSON.intersection(run))
    return voiced[0] if voiced else None


def question_problem(
    question: str, *, evidence: str, instructions: str, nlp: Language, asked_in_session: Sequence[str] = ()
) -> str | None:
    """Why `question` is not a usable follow-up question about `evidence`, or None if it is.
    `asked_in_session` are the participants' own questions, which a follow-up must not repeat."""
    if not question.endswith("?") or question.count("?") != 1:
        return "it is not a single question ending with a question mark"
    if _sentence_breaks(question):
        return "it is more than one sentence"
    words = _words(question)
    low, high = QUESTION_WORDS
    if not low <= len(words) <= high:
        return f"it has {len(words)} words; it should have {low} to {high}"
    if words[0] in CLOSED_OPENERS:
        return "it can be answered with yes or no; ask an open question starting with What, How or Why"
    if not content_lemmas(nlp, question) & content_lemmas(nlp, evidence):
        return "it does not mention anything the participants said"
    if any(_runs(words, ECHOED_RUN) & _runs(_words(asked), ECHOED_RUN) for asked in asked_in_session):
        return "it repeats a question a participant already asked"
    grafted = _grafted_voice(question, evidence)
    if grafted:
        return f"it pastes a participant's own words (“{grafted}”) into the question; name the point in your own words"
    return _copy_problem(question, evidence, instructions, nlp)


def title_problem(title: str, *, evidence: str, instructions: str, nlp: Language) -> str | None:
    """Why `title` is not a usable theme title for `evidence`, or None if it is."""
    words = _words(title)
    low, high = TITLE_WORDS
    if not low <= len(words) <= high:
        return f"it has {len(words)} words; it should have {low} to {high}"
    if "?" in title:
        return "it is a question, not a title"
    if title.count(",") >= LIST_TITLE_COMMAS:
        return "it is a list of key words; say in one short phrase what was discussed"
    lemmas = content_lemmas(nlp, title)
    foreign = lemmas - content_lemmas(nlp, evidence)
    if not lemmas or len(foreign) > 1:
        return f"it uses words the participants did not say ({', '.join(sorted(foreign))})"
    return _copy_problem(title, evidence, instructions, nlp)


def title_parts(reply: str) -> list[str]:
    """The reply, then each side of a "Topic: subtitle" reply, longer first: a small model's two-part
    title often fails as a whole (too long, or one side made up) while one side is a good title on
    its own ("Project Management: Role and Collaboration in a Team Project")."""
    head, colon, tail = reply.partition(":")
    if not colon or ":" in tail:
        return [reply]
    sides = sorted((side.strip() for side in (head, tail)), key=lambda side: -len(_words(side)))
    return [reply, *(side for side in sides if side)]


def is_near_duplicate(text: str, earlier: Sequence[str], embedder: Embedder) -> bool:
    """True when `text` says the same as one of `earlier` (cosine of sentence embeddings ≥ 0.9)."""
    if not earlier:
        return False
    vectors = embedder.encode([text, *earlier])
    return bool(np.max(vectors[1:] @ vectors[0]) >= DUPLICATE_COSINE)


def repeated_phrase(words: Sequence[str]) -> str | None:
    """The longest phrase (with a word that is not a stop word) said twice in a row, or None."""
    for size in range(REPEATED_PHRASE_WORDS, 0, -1):
        for first in range(len(words) - 2 * size + 1):
            phrase = words[first : first + size]
            if all(word in ENGLISH_STOP_WORDS for word in phrase):
                continue
            for gap in range(REPEAT_GAP + 1):
                again = first + size + gap
                if words[again : again + size] == phrase:
                    return " ".join(phrase)
    return None


def summary_problem(summary: str, *, evidence: str, instructions: str, nlp: Language) -> str | None:
    """Why `summary` is not a usable summary of `evidence`, or None if it is."""
    said = _words(summary)
    low, high = SUMMARY_LENGTH_WORDS
    if not low <= len(said) <= high:
        return f"it has {len(said)} words; it should have {low} to {high}"
    if _sentence_breaks(summary) + 1 > MAX_SUMMARY_SENTENCES or "\n" in summary:
        return f"it has more than {MAX_SUMMARY_SENTENCES} sentences; write two"
    first_person = sorted(FIRST_PERSON.intersection(said))
    if first_person:
        return f"it speaks in the first person (“{first_person[0]}”); report what was said in the third person"
    lemmas = content_lemmas(nlp, summary)
    foreign = lemmas - content_lemmas(nlp, evidence) - content_lemmas(nlp, instructions)
    if not lemmas or len(foreign) > SUMMARY_MAX_FOREIGN_SHARE * len(lemmas):
        return f"it uses words the participants did not say ({', '.join(sorted(foreign))})"
    repeated = repeated_phrase(said)
    if repeated:
        return f"it says “{repeated}” twice in a row; say each thing once"
    return _copied_run_problem(summary, evidence, instructions)
