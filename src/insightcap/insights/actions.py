"""Commitments: which sentences hand out or take on work, and who will do what, by when.

Finding them: a detector trained on AMI (eval/train_actions.py, models/action_head/) scores every
sentence; AMI's human action items come from the dialogue acts it learned from, which are mostly
work being handed out ("as the industrial designer, you're gonna be working on…"), not only
first-person offers. The parse then has the last word both ways: a sentence that names no work
("that'd be great", "I think I can", "I find myself checking my email") is never listed, and a
speaker's dated promise ("I'll call them before Friday") always is.

Reading them: the owner is only ever someone the words name. "I" is the speaker, "we" is the
group, "you" is the participant named in the sentence (or in the speaker's sentence just
before: "Marketing expert, … you'll be looking at trends"), a named subject is that person; an
unknown speaker or an unnamed "you" stays unknown, never guessed. Due dates are the DATE
entities spaCy finds that name a point in time, resolved by dateparser against the session's
date; a duration ("for two weeks") is not a deadline.

Writing them: each commitment becomes a short third-person statement, "<owner> will <task>". The
task comes from the local generator when there is one, checked against the words said (a task
using a content word nobody said is rejected), and otherwise from the parse.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import dateparser
import numpy as np
from spacy.language import Language
from spacy.tokens import Span, Token

from insightcap.generator.base import GeneratorError, TextGenerator
from insightcap.insights.features import dense_features
from insightcap.insights.head import SectionHead
from insightcap.insights.nlp import CONTENT_POS, fluent_text
from insightcap.insights.schema import ActionItem, Insight, Section
from insightcap.insights.sentences import ParsedSentence
from insightcap.resources import prompt_text, resource_dir
from insightcap.themes.embed import Embedder

log = logging.getLogger(__name__)

COMMITMENT = "commitment"
NOT_COMMITMENT = "other"
# The owner of what "we" will do: the people in the session, as a group.
GROUP = "the group"
# Two commitments this close (MiniLM cosine of their statements) are the same one said twice.
DUPLICATE_SIMILARITY = 0.85
TASK_WORDS = (2, 14)
TASK_TOKENS = 40

_SUBJECTS = frozenset({"nsubj", "nsubjpass"})
# Prepositions that introduce a deadline belong to what was said about it ("by Friday").
_DEADLINE_MARKERS = frozenset({"by", "before", "until", "till", "on", "for", "within", "in"})
# Before a number of days or weeks, these make it a point in time ("in two weeks"); "for two
# weeks" and a bare "two weeks" are how long something lasts.
_OFFSET_MARKERS = frozenset({"in", "within"})
_VOCATIVE_DEPS = frozenset({"npadvmod", "intj", "vocative", "dep"})
# Present-tense verbs that put work ahead of the speaker ("we need to…", "I have to…").
_OBLIGATIONS = frozenset({"need", "have", "want", "got", "plan", "intend", "promise", "offer", "volunteer", "agree"})
# Verbs of politeness: "thank you", "sorry, excuse me" are no one's work.
_COURTESIES = frozenset({"thank", "welcome", "excuse", "pardon", "apologise", "apologize"})
# Verbs that frame the clause after them with the speaker's stance ("I think…", "…, I guess",
# "…, I promise"), by lemma: the clause says the work, they do not.
_HEDGES = frozenset(
    {"think", "guess", "suppose", "reckon", "believe", "know", "mean", "hope", "imagine", "assume", "expect", "bet", "say",
     "promise", "swear"}
)
# Days of the month said as ordinal words ("the twentieth of March"), which dateparser reads only
# as digits.
_ORDINAL_WORDS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
_DAY_ORDINALS = (
    {word: day for day, word in enumerate(_ORDINAL_WORDS, start=1)}
    | {"twentieth": 20, "thirtieth": 30, "thirty first": 31}
    | {f"twenty {word}": 20 + day for day, word in enumerate(_ORDINAL_WORDS[:9], start=1)}
)
_SPOKEN_DAY = re.compile(
    r"\b("
    + "|".join(word.replace(" ", r"[\s-]+") for word in sorted(_DAY_ORDINALS, key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
_MONTH = re.compile(r"\b(" + "|".join(calendar.month_name[1:]) + r")\b", re.IGNORECASE)


# --- who -------------------------------------------------------------------------------------


def _subject(verb: Token) -> Token | None:
    return next((child for child in verb.children if child.dep_ in _SUBJECTS), None)


def _complement(verb: Token) -> Token | None:
    """The verb `verb` hands the work to: "going to / need to X", "make sure to X"."""
    for child in verb.children:
        # The small parser often tags the verb after "gonna" as an adjective or noun.
        if child.dep_ == "xcomp" and (child.pos_ == "VERB" or verb.lemma_ == "go"):
            return child
        if child.dep_ == "acomp":
            nested = next((c for c in child.children if c.dep_ == "xcomp" and c.pos_ == "VERB"), None)
            if nested is not None:
                return nested
    return None


def _clause_head(span: Span) -> Token:
    """The root of the clause that says what will be done: the sentence's root, or the clause a
    hedge at the root introduces ("I think we have to fill in the questionnaire", "I'll send it,
    I guess"); the hedge is the speaker's certainty, not the work, nor its owner."""
    root = span.root
    if root.lemma_.lower() not in _HEDGES:
        return root
    clause = next((child for child in root.children if child.dep_ == "ccomp" and child.pos_ in {"VERB", "AUX"}), None)
    return clause if clause is not None else root


def _work_subject(span: Span, verb: Token | None) -> Token | None:
    """Who the sentence says does the work: the subject of its clause (see _clause_head), else of
    its task verb ("I'll make sure to send it": "I")."""
    return _subject(_clause_head(span)) or (_subject(verb) if verb is not None else None)


def _task_verb(span: Span) -> Token | None:
    """The verb naming the work: the clause's head (see _clause_head), or the verb it hands over
    to (see _complement)."""
    verb = _clause_head(span)
    if verb.pos_ not in {"VERB", "AUX"}:
        return None
    while True:
        complement = _complement(verb)
        # "gonna" carries no work of its own, even when the parser hangs the object on it.
        has_object = verb.lemma_ != "go" and any(child.dep_ in {"dobj", "dative"} for child in verb.children)
        if complement is None or has_object:
            return verb
        verb = complement


def _name_tokens(token: Token) -> list[Token]:
    """A name with its compound parts ("Industrial Designer", "Maria Lopez")."""
    return [child for child in token.lefts if child.dep_ == "compound"] + [token]


def _person_named(span: Span, token: Token) -> str | None:
    """The name `token` is part of: a PERSON entity, or a proper noun spaCy's recogniser gave no
    other type (short names in speech are often missed)."""
    for entity in span.ents:
        if entity.start <= token.i < entity.end:
            return entity.text if entity.label_ == "PERSON" else None
    return " ".join(part.text for part in _name_tokens(token)) if token.pos_ == "PROPN" else None


def _addressed(span: Span) -> list[Token]:
    """Names said to someone ("Maria, can you…"): a proper noun outside the clause's structure."""
    return [
        token
        for token in span
        if token.pos_ == "PROPN" and token.dep_ in _VOCATIVE_DEPS and _person_named(span, token) is not None
    ]


def _participants_named(text: str, participants: Collection[str]) -> list[str]:
    return [
        name
        for name in participants
        if re.search(rf"\b{re.escape(name)}\b", text, flags=re.IGNORECASE)
    ]


def find_owner(
    span: Span,
    speaker: str | None,
    participants: Collection[str] = (),
    said_before: Span | None = None,
) -> str | None:
    """Who the sentence says will do the work, or None when it does not say.

    `participants` are the session's speaker names; `said_before` is the speaker's own sentence
    just before, where the person addressed is often named.
    """
    subject = _work_subject(span, _task_verb(span))
    if subject is None:
        return None
    person = subject.morph.get("Person")
    number = subject.morph.get("Number")
    if person == ["1"]:
        return speaker if number == ["Sing"] else GROUP
    others = [name for name in participants if name != speaker]
    if person == ["2"]:
        addressed = _addressed(span)
        if len(addressed) == 1:
            return _person_named(span, addressed[0])
        for text in (span.text, said_before.text if said_before is not None else ""):
            named = _participants_named(text, others)
            if len(named) == 1:
                return named[0]
        return None
    named = _participants_named(" ".join(token.text for token in subject.subtree), others)
    return named[0] if len(named) == 1 else _person_named(span, subject)


# --- by when ---------------------------------------------------------------------------------


def _end_of_period(phrase: Span, session_date: date) -> date | None:
    """ "the end of the week/month/year": dateparser resolves points in time, not period ends."""
    lemmas = {token.lemma_.lower() for token in phrase}
    if "end" not in lemmas:
        return None
    if "week" in lemmas:
        return session_date + timedelta(days=(calendar.FRIDAY - session_date.weekday()) % 7)
    if "month" in lemmas:
        return session_date.replace(day=calendar.monthrange(session_date.year, session_date.month)[1])
    if "year" in lemmas:
        return session_date.replace(month=12, day=31)
    return None


def _with_day_digits(text: str) -> str:
    """ "the twenty-first of March" → "the 21 of March"; only beside a month, as "the first week"
    or "the second time" name no day."""
    if not _MONTH.search(text):
        return text
    return _SPOKEN_DAY.sub(lambda match: str(_DAY_ORDINALS[" ".join(re.split(r"[\s-]+", match[1].lower()))]), text)


def resolve_date(phrase: Span, session_date: date) -> date | None:
    """The day `phrase` names, counted from the session's date; None when it names none."""
    period_end = _end_of_period(phrase, session_date)
    if period_end is not None:
        return period_end
    parsed = dateparser.parse(
        _with_day_digits(phrase.text),
        languages=["en"],
        settings={
            "RELATIVE_BASE": datetime.combine(session_date, datetime.min.time()),
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )
    return parsed.date() if parsed else None


def _is_ordinal(token: Token) -> bool:
    """ "twentieth", "21st", "second": a position (often a day of the month), not a count."""
    return token.like_num and token.lower_.endswith(("first", "second", "third", "th", "1st", "2nd", "3rd"))


def _is_duration(entity: Span, marker: Token | None) -> bool:
    """ "two weeks", "for ten years": a length of time with a number, not said as "in two weeks"."""
    counted = any((token.like_num or token.dep_ == "nummod") and not _is_ordinal(token) for token in entity)
    return counted and (marker is None or marker.lower_ not in _OFFSET_MARKERS)


def find_due(span: Span, session_date: date | None) -> tuple[date | None, str | None, Span | None]:
    """(resolved date, the words said, the tokens of the deadline phrase) of the first DATE
    entity that names a point in time."""
    for entity in span.ents:
        if entity.label_ != "DATE":
            continue
        before = span.doc[entity.start - 1] if entity.start > span.start else None
        marker = before if before is not None and before.pos_ == "ADP" and before.lower_ in _DEADLINE_MARKERS else None
        if _is_duration(entity, marker):
            continue
        phrase = span.doc[entity.start - (marker is not None) : entity.end]
        due = resolve_date(entity, session_date) if session_date else None
        return due, phrase.text, phrase
    return None, None, None


# --- what ------------------------------------------------------------------------------------

# The owner's own words for themselves, as the memo says them about the owner ("I'll bring my copy"
# → "Ben will bring their copy"), by the subject's number.
_AS_OWNER = {
    "Sing": {"my": "their", "me": "them", "myself": "themselves"},
    "Plur": {"our": "their", "us": "them", "ourselves": "themselves"},
}
_OWN_WORDS = {
    number: re.compile(r"\b(" + "|".join(replacements) + r")\b", re.IGNORECASE)
    for number, replacements in _AS_OWNER.items()
}


def _about_the_owner(words: str, span: Span, verb: Token) -> str:
    """`words` with the speaker's first-person words for themselves turned to the third person, when
    the speaker is the owner (a first-person subject)."""
    subject = _work_subject(span, verb)
    if subject is None or subject.morph.get("Person") != ["1"]:
        return words
    number = next(iter(subject.morph.get("Number")), "")
    if number not in _AS_OWNER:
        return words
    return _OWN_WORDS[number].sub(lambda match: _AS_OWNER[number][match[1].lower()], words)


def find_task(span: Span, deadline: Span | None = None) -> str:
    """The work as a verb phrase in the base form, from the parse: the task verb and what follows
    it ("you're gonna be working on the design" → "work on the design")."""
    verb = _task_verb(span)
    if verb is None:
        return fluent_text(span)
    excluded = set(range(deadline.start, deadline.end)) if deadline is not None else set()
    for addressed in _addressed(span):
        excluded.update(token.i for token in _name_tokens(addressed))
    negation = [child for child in verb.lefts if child.dep_ == "neg"]
    # In the order said: a subtree is walked in tree order, which differs from it where the parse
    # crosses itself ("curious about what the de-briefing is gonna be like").
    tail = sorted(
        (token for child in verb.rights for token in child.subtree if token.i not in excluded and not token.is_punct),
        key=lambda token: token.i,
    )
    words = _about_the_owner(fluent_text(tail), span, verb)
    head = verb.lemma_ if verb.tag_ in {"VBG", "VBN", "VBZ", "VBD", "VBP"} else verb.text
    return " ".join(part for part in ("not" if negation else "", head.lower(), words) if part)


def _promised(span: Span, verb: Token) -> bool:
    """The speaker saying they will do it: "I will / I'll / I shall…", "I'm going to / gonna…"."""
    clause = _clause_head(span)
    subject = _work_subject(span, verb)
    if subject is None or subject.morph.get("Person") != ["1"]:
        return False
    auxiliaries = [child for head in (verb, clause) for child in head.children if child.dep_ == "aux"]
    return any(aux.lemma_.lower() in {"will", "shall"} for aux in auxiliaries) or (
        clause.lemma_.lower() == "go" and clause.tag_ == "VBG" and clause is not verb
    )


def _says_how_things_are(span: Span) -> bool:
    """A speaker saying how things are for them or their listeners now ("I find myself checking my
    email out of boredom", "I'm curious what the debriefing will be like", "I hope you appreciate
    the tin foil"): first or second person, the present tense, no modal, no day named. "I need
    to…", "we have to…", "we do the evaluation next week" are work ahead, and stay."""
    clause = _clause_head(span)
    subject = _subject(clause)
    if subject is None or subject.morph.get("Person") not in (["1"], ["2"]) or clause.tag_ not in {"VBP", "VBZ"}:
        return False
    if clause.lemma_.lower() in _OBLIGATIONS or any(child.dep_ == "aux" for child in clause.children):
        return False
    return find_due(span, None)[1] is None


def names_work(span: Span) -> bool:
    """Whether the sentence says what is to be done: its task verb acts on something ("send the
    template", "look into that"), or the speaker promises it ("I'll investigate"). "I think I
    can", "how does it work" or "that'd be great" name no work a memo could list."""
    verb = _task_verb(span)
    if verb is None:
        return True
    if verb.lemma_.lower() in _COURTESIES or _says_how_things_are(span):
        return False
    said_after = [token for child in verb.rights for token in child.subtree]
    if verb.lemma_ == "be":
        # "that'd be great", "that will be the evaluation" describe; "I'll be responsible for the
        # budget" and "it'd be good if you looked at the costs" hand work out. A participle naming
        # a thing ("like the actual specified prototype") is no verb of work.
        return any(token.pos_ == "VERB" and token.dep_ != "amod" for token in said_after) or any(
            child.dep_ == "acomp" and any(grand.dep_ == "prep" for grand in child.children) for child in verb.rights
        )
    return any(not token.is_punct and token.pos_ != "INTJ" for token in said_after) or _promised(span, verb)


def promises_by_date(span: Span) -> bool:
    """A speaker promising work by a day ("I will call the new mentors before Friday"): a
    commitment whatever the detectors say. They learned from AMI's design meetings, where work is
    handed out and hardly ever dated; in a peer-learning circle people take work on themselves."""
    verb = _task_verb(span)
    # Cheapest first: this runs on every sentence of a session, and few promise anything.
    if verb is None or not _promised(span, verb) or find_due(span, None)[1] is None:
        return False
    return names_work(span)


def extract_action(
    span: Span,
    speaker: str | None,
    session_date: date | None,
    participants: Collection[str] = (),
    said_before: Span | None = None,
) -> ActionItem:
    due, due_text, deadline = find_due(span, session_date)
    return ActionItem(
        owner=find_owner(span, speaker, participants, said_before),
        task=find_task(span, deadline),
        due=due,
        due_text=due_text,
    )


def action_statement(action: ActionItem) -> str:
    """ "Maria will send the template by next Tuesday." — or the task alone when no owner was said."""
    due = f" {action.due_text}" if action.due_text and action.due_text not in action.task else ""
    if action.owner:
        text = f"{action.owner} will {action.task}{due}"
    else:
        text = f"{action.task}{due}"
    return text[:1].upper() + text[1:].rstrip(" .,;") + "."


# --- the generator's wording, checked ----------------------------------------------------------


def _content_lemmas(nlp: Language, text: str) -> set[str]:
    # Lower-cased first: a Title Case reply would otherwise be tagged as proper nouns, unlemmatised.
    return {token.lemma_ for token in nlp(text.lower()) if token.pos_ in CONTENT_POS and not token.is_stop}


def task_problem(task: str, evidence: str, nlp: Language) -> str | None:
    """What is wrong with a generated task, in words, or None when it is usable: a verb phrase of
    TASK_WORDS words in the base form, every content word of it said in the evidence."""
    words = task.split()
    if not TASK_WORDS[0] <= len(words) <= TASK_WORDS[1]:
        return f"it has {len(words)} words, not {TASK_WORDS[0]} to {TASK_WORDS[1]}"
    if re.search(r"[.!?;:]\s+\S", task):
        return "it is more than one phrase"
    parsed = nlp(f"They will {task}")
    if parsed[2].tag_ != "VB":
        return "it does not start with a verb in the base form"
    invented = _content_lemmas(nlp, task) - _content_lemmas(nlp, evidence)
    if invented:
        return f"it uses words nobody said: {', '.join(sorted(invented))}"
    return None


class TaskWriter:
    """Asks the generator for each commitment's task as a short verb phrase.

    After the generator fails once (server down, model missing) it is not asked again, so an
    unreachable endpoint costs one timeout per session, not one per commitment.
    """

    def __init__(self, generator: TextGenerator, nlp: Language) -> None:
        self.generator = generator
        self.failure: str | None = None
        self._nlp = nlp
        self._system = prompt_text("facilitator_system.txt")

    def task(self, quote: str, said_before: str, action: ActionItem) -> str | None:
        """A cleaner wording of `action.task` (the parse's draft), or None when the generator gave
        none that passes task_problem."""
        if self.failure:
            return None
        said = f"{said_before} {quote}".strip()
        request = prompt_text("action_task.txt").format(
            said=said, owner=action.owner or "someone", draft=action.task
        )
        try:
            reply = self.generator.chat(self._system, request, max_tokens=TASK_TOKENS, temperature=0.0)
        except GeneratorError as error:
            log.warning("generator failed, writing the remaining tasks from the parse: %s", error)
            self.failure = str(error)
            return None
        task = " ".join(reply.split()).strip(" \"'“”*`").rstrip(".")
        problem = task_problem(task, said, self._nlp)
        if problem:
            log.info("generated task rejected: %r: %s", task, problem)
            return None
        # It starts with a verb (task_problem checked), which the reply may have capitalised.
        return task[:1].lower() + task[1:]


# --- which sentences ---------------------------------------------------------------------------


def action_head_path() -> Path:
    return resource_dir("models") / "action_head" / "head.npz"


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


@dataclass(frozen=True)
class ActionContext:
    """What reading a session's commitments needs besides the sentences themselves."""

    session_date: date | None
    embedder: Embedder
    writer: TaskWriter | None = None


def _said_before(sentences: Sequence[ParsedSentence], index: int) -> ParsedSentence | None:
    """The sentence before, when the same speaker said it (it often names who is addressed)."""
    if index == 0:
        return None
    previous = sentences[index - 1]
    return previous if previous.sentence.speaker == sentences[index].sentence.speaker else None


def find_action_items(
    sentences: Sequence[ParsedSentence],
    embeddings: np.ndarray,
    topic_of: dict[int, int],
    context: ActionContext,
    offers: Mapping[int, float] | None = None,
) -> list[Insight]:
    """The session's commitments as action-item insights, the most likely first, near-duplicates
    dropped. `topic_of` maps a sentence index to its topic.

    Three votes: this module's detector, trained on the acts AMI's annotators linked to action
    items (mostly work being handed out in design meetings); `offers`, the sentence index →
    confidence of sentences the section head read as a speaker taking work on ("I'll send you the
    template"), which the first rarely sees in AMI and would miss in a peer-learning circle; and
    a speaker's dated promise (promises_by_date), whatever either model says. A sentence that
    names no work (names_work) is never listed.
    """
    detected = commitment_probabilities(sentences, embeddings)
    threshold = float(load_action_head().meta["threshold"])
    probability = detected.copy()
    taken_on = dict(offers or {})
    for index, parsed in enumerate(sentences):
        if promises_by_date(parsed.span):
            taken_on[index] = max(taken_on.get(index, 0.0), threshold)
    for index, confidence in taken_on.items():
        probability[index] = max(probability[index], confidence)
    participants = {parsed.sentence.speaker for parsed in sentences if parsed.sentence.speaker}
    insights: list[Insight] = []
    for index in np.argsort(-probability, kind="stable"):
        if detected[index] < threshold and int(index) not in taken_on:
            continue
        parsed = sentences[int(index)]
        if not names_work(parsed.span):
            continue
        sentence = parsed.sentence
        before = _said_before(sentences, int(index))
        action = extract_action(
            parsed.span, sentence.speaker, context.session_date, participants, before.span if before else None
        )
        written = (
            context.writer.task(sentence.text, before.sentence.text if before else "", action)
            if context.writer
            else None
        )
        if written:
            action = action.model_copy(update={"task": written})
        insights.append(
            Insight(
                section=Section.ACTION_ITEM,
                statement=action_statement(action),
                quote=sentence.text,
                speaker=sentence.speaker,
                start=sentence.start,
                end=sentence.end,
                topic_index=topic_of.get(sentence.index, 0),
                confidence=round(float(probability[index]), 4),
                sentence_indices=[sentence.index],
                action=action,
            )
        )
    return _without_duplicates(insights, context.embedder)


def _without_duplicates(insights: list[Insight], embedder: Embedder) -> list[Insight]:
    """Keeps the first (most likely) of statements that say the same thing."""
    if len(insights) < 2:
        return insights
    vectors = embedder.encode([insight.statement for insight in insights])
    kept: list[int] = []
    for index in range(len(insights)):
        if not kept or float(np.max(vectors[kept] @ vectors[index])) < DUPLICATE_SIMILARITY:
            kept.append(index)
    return [insights[index] for index in kept]
