"""Reading a commitment from the parse: who will do it, what, and whether it names work at all.

The owner is only ever someone the words name. "I" is the speaker, "we" is the group, "you" is the
participant named in the sentence (or in the speaker's sentence just before: "Marketing expert, …
you'll be looking at trends"), a named subject is that person; an unknown speaker or an unnamed
"you" stays unknown, never guessed. The task is the verb naming the work and what follows it, in
the base form. A sentence that names no work ("that'd be great", "I think I can", "I find myself
checking my email") is never a commitment, and a speaker's dated promise ("I'll call them before
Friday") always is, whatever the detector says (insights/actions/detect.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date

from spacy.tokens import Span, Token

from insightcap.insights.actions.dates import find_due
from insightcap.insights.nlp import fluent_text
from insightcap.insights.schema import ActionItem

# The owner of what "we" will do: the people in the session, as a group.
GROUP = "the group"

_SUBJECTS = frozenset({"nsubj", "nsubjpass"})
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


# --- whether it is work ----------------------------------------------------------------------


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


# --- all of it -------------------------------------------------------------------------------


def extract_action(
    span: Span,
    speaker: str | None,
    session_date: date | None,
    participants: Collection[str] = (),
    said_before: Span | None = None,
) -> ActionItem:
    """The commitment `span` states: its owner, task and due date (see find_owner, find_task and
    find_due)."""
    due, due_text, deadline = find_due(span, session_date)
    return ActionItem(
        owner=find_owner(span, speaker, participants, said_before),
        task=find_task(span, deadline),
        due=due,
        due_text=due_text,
    )

