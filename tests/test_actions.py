"""Commitments read from real AMI lines: owner, task, due date, nothing invented, checked wording."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from insightcap.insights.actions import (
    GROUP,
    ActionContext,
    TaskWriter,
    action_statement,
    extract_action,
    find_action_items,
    task_problem,
)
from insightcap.insights.nlp import load_nlp
from insightcap.insights.schema import Section
from insightcap.insights.sentences import split_sentences
from insightcap.themes.embed import Embedder
from insightcap.transcript.schema import Segment, Transcript

# A Wednesday.
SESSION = date(2024, 3, 6)
ROLES = ["Project Manager", "Marketing Expert", "User Interface Designer", "Industrial Designer"]


@pytest.fixture(scope="module")
def nlp():
    from insightcap.config import Settings

    return load_nlp(Settings())


def action(nlp, text, speaker="Project Manager", said_before=None, session_date=SESSION):
    before = nlp(said_before)[:] if said_before else None
    return extract_action(nlp(text)[:], speaker, session_date, ROLES, before)


def test_first_person_singular_is_the_speaker(nlp):
    # ES2008b, the project manager.
    item = action(nlp, "Um I'll make sure to put up um the minutes and the project documentation.")
    assert item.owner == "Project Manager"
    assert item.task.startswith("put up the minutes")
    assert action_statement(item).startswith("Project Manager will put up the minutes")


def test_first_person_plural_is_the_group(nlp):
    item = action(nlp, "We have to think about um space in living-rooms, too,")
    assert item.owner == GROUP
    assert action_statement(item).startswith("The group will think about space")


def test_you_is_the_participant_named_in_the_sentence(nlp):
    # ES2002a: work handed out by role.
    item = action(
        nlp,
        "Um so inbetween now and then, um as the industrial designer, you're gonna be working on "
        "you know the actual working design of it",
    )
    assert item.owner == "Industrial Designer"
    assert item.task.startswith("work on")
    assert "designer" not in item.task


def test_the_task_keeps_the_words_in_the_order_they_were_said(nlp):
    # ES2009d: the parse attaches "what the de-" across the rest of the clause.
    item = action(nlp, "T I I'm curious about what the de-briefing is gonna be like.")
    assert item.task == "be curious about what the debriefing is gonna be like"


def test_you_is_named_in_the_speakers_previous_sentence(nlp):
    item = action(
        nlp, "you'll be just thinking about the user requirements", said_before="Um and uh marketing expert,"
    )
    assert item.owner == "Marketing Expert"


def test_unnamed_you_and_unknown_speaker_stay_empty(nlp):
    assert action(nlp, "And as per last time you'll get specific instructions from your personal coach.").owner is None
    assert action(nlp, "I'll e-mail you before the next meeting.", speaker=None).owner is None


def test_named_person_addressed_with_compound_name(nlp):
    item = action(nlp, "Industrial Designer, you will look at the components by Friday.")
    assert item.owner == "Industrial Designer"
    assert item.task == "look at the components"


@pytest.mark.parametrize(
    ("text", "due", "said"),
    [
        ("Maria, can you send the template by next Tuesday?", date(2024, 3, 12), "by next Tuesday"),
        ("I'll send the minutes to everyone tomorrow.", date(2024, 3, 7), "tomorrow"),
        ("Industrial Designer, you will look at the components by Friday.", date(2024, 3, 8), "by Friday"),
        ("We'll need to finish the prototype by the end of the month.", date(2024, 3, 31), "by the end of the month"),
    ],
)
def test_due_dates_resolve_against_the_session_date(nlp, text, due, said):
    item = action(nlp, text)
    assert (item.due, item.due_text) == (due, said)


def test_no_date_is_invented(nlp):
    # No date said; a duration is not a deadline; without a session date nothing is resolved.
    assert action(nlp, "After that we have thirty minutes of individual work.").due is None
    assert action(nlp, "I'll be working on the remote for two weeks.").due is None
    undated = action(nlp, "I'll send the minutes tomorrow.", session_date=None)
    assert (undated.due, undated.due_text) == (None, "tomorrow")


def test_task_problem_rejects_invented_words_and_non_verbs(nlp):
    evidence = "Um I'll make sure to put up um the minutes and the project documentation."
    assert task_problem("put up the minutes and project documentation", evidence, nlp) is None
    assert "nobody said" in task_problem("send the minutes to the team", evidence, nlp)
    assert "base form" in task_problem("is working on a project", evidence, nlp)
    assert "words" in task_problem("solves", evidence, nlp)


class _Reply:
    """A stand-in backend for the validation path only: it returns fixed replies."""

    name = "fixed replies"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def chat(self, system, user, max_tokens=96, temperature=0.2):
        return self.reply


def test_writer_keeps_only_grounded_tasks(nlp):
    quote = "Um I'll make sure to put up um the minutes and the project documentation."
    item = action(nlp, quote)
    assert TaskWriter(_Reply('"Put up the minutes."'), nlp).task(quote, "", item) == "Put up the minutes"
    assert TaskWriter(_Reply("Email the slides to the client"), nlp).task(quote, "", item) is None


def test_find_action_items_on_an_ami_close(settings, nlp):
    # ES2008b's last minutes: work handed out, then chatter.
    lines = [
        ("Project Manager", "Okay, so that's all for today I think."),
        ("Project Manager", "Um after the meeting we're gonna each complete a questionnaire and a summary."),
        ("Project Manager", "Um I'll make sure to put up um the minutes and the project documentation."),
        ("Marketing Expert", "Yeah the weather was nice this morning."),
        ("Project Manager", "Industrial Designer, you will look at the components concept by Friday."),
    ]
    transcript = Transcript(
        segments=[Segment(start=10.0 * i, end=10.0 * i + 8, text=text, speaker=who) for i, (who, text) in enumerate(lines)],
        duration=60.0,
        source="import",
    )
    sentences = split_sentences(transcript, nlp)
    embedder = Embedder(settings)
    embeddings = embedder.encode([parsed.sentence.text for parsed in sentences])
    items = find_action_items(sentences, embeddings, {}, ActionContext(SESSION, embedder))
    quotes = {item.quote for item in items}
    assert all(item.section == Section.ACTION_ITEM and item.action is not None for item in items)
    assert "Um I'll make sure to put up um the minutes and the project documentation." in quotes
    assert "Yeah the weather was nice this morning." not in quotes
    owners = {item.action.owner for item in items}
    assert owners <= {"Project Manager", "Industrial Designer", GROUP, None}
    assert np.all(np.diff([item.confidence for item in items]) <= 0)


@pytest.mark.slow
def test_local_generator_task_is_grounded_or_refused(llama_generator, nlp):
    quote = "Um I'll make sure to put up um the minutes and the project documentation."
    item = action(nlp, quote)
    task = TaskWriter(llama_generator, nlp).task(quote, "", item)
    assert task is None or task_problem(task, quote, nlp) is None
