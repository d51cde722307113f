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
    names_work,
    promises_by_date,
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


@pytest.mark.parametrize(
    ("text", "owner", "statement"),
    [
        # AMI ES2007b and TS3004: the hedge is how sure the speaker is, not the work or its owner.
        ("I I think we have to fill in a questionnaire again,", GROUP, "The group will fill in a questionnaire again."),
        ("I thought I should probably look into them,", "Project Manager", "Project Manager will look into them."),
        # A peer circle: the promise is how firmly the speaker means it.
        ("I'll send the feedback template by Monday, I promise.", "Project Manager",
         "Project Manager will send the feedback template by Monday."),
    ],
)
def test_a_hedge_gives_way_to_the_clause_it_introduces(nlp, text, owner, statement):
    item = action(nlp, text)
    assert item.owner == owner
    assert action_statement(item) == statement


@pytest.mark.parametrize(
    ("text", "statement"),
    [
        ("I'll bring my copy of the book to the next meeting.", "Project Manager will bring their copy of the book to the next meeting."),
        ("We will report our findings back to the circle.", "The group will report their findings back to the circle."),
        ("Maria, can you send me your notes?", "Maria will send me your notes."),  # the owner is not the speaker
    ],
)
def test_the_owners_own_words_for_themselves_are_said_about_them(nlp, text, statement):
    assert action_statement(action(nlp, text)) == statement


def test_thinking_about_something_is_still_the_work(nlp):
    # ES2002b.
    item = action(nlp, "um for uh our Industrial Designer, you're gonna be thinking about the components concept.")
    assert action_statement(item) == "Industrial Designer will think about the components concept."


@pytest.mark.parametrize(
    ("text", "work"),
    [
        ("Yes, I yes, I think I can.", False),  # ES2008a
        ("If everyone could do that as well, that'd be great.", False),  # IS1001a
        ("Um I'd like first to give a quick a very simple introduction, how does it work,", False),  # IS1000b
        ("I'll send the template to everyone.", True),
        ("I'll look into that.", True),
        ("I will investigate.", True),  # IS1006: a promise needs no object
        ("and then in the last stage I will be responsible for the user interface design", True),  # IS1006
        ("it will be complicated", False),
        ("And then the final would be like th the actual specified prototype or whatever,", False),  # ES2009d
        ("It'd be good if you looked at the costs.", True),
        # ES2009d: how things are for the listener, hoped by the speaker.
        ("I hope you appreciate the uh incorporation of some tin foil from a uh random Kit-Kat bar", False),
        # ES2009d: how things are for the speaker now, not work ahead.
        ("I find myself hitting the send and receive button on the email a lot, just out of boredom,", False),
        ("T I I'm curious about what the de-briefing is gonna be like.", False),
        ("We need to buy the tools.", True),
        ("We do the evaluation next week.", True),
    ],
)
def test_only_sentences_that_name_the_work_are_commitments(nlp, text, work):
    assert names_work(nlp(text)[:]) is work


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
        # A day said as an ordinal word is a day of the month, not a count of something.
        ("I'll circulate it before our next session on the twentieth of March.", date(2024, 3, 20),
         "on the twentieth of March"),
        ("Ana, can you send it by the third of April?", date(2024, 4, 3), "by the third of April"),
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
    assert TaskWriter(_Reply('"Put up the minutes."'), nlp).task(quote, "", item) == "put up the minutes"  # lower case: the statement reads "… will put up…"
    assert TaskWriter(_Reply("Email the slides to the client"), nlp).task(quote, "", item) is None


def session_action_items(settings, nlp, lines: list[tuple[str, str]]):
    """find_action_items on a session of these (speaker, line)s, one every 10 seconds."""
    transcript = Transcript(
        segments=[Segment(start=10.0 * i, end=10.0 * i + 8, text=text, speaker=who) for i, (who, text) in enumerate(lines)],
        duration=10.0 * len(lines),
        source="import",
    )
    sentences = split_sentences(transcript, nlp)
    embedder = Embedder(settings)
    embeddings = embedder.encode([parsed.sentence.text for parsed in sentences])
    return find_action_items(sentences, embeddings, {}, ActionContext(SESSION, embedder))


def test_find_action_items_on_an_ami_close(settings, nlp):
    # ES2008b's last minutes: work handed out, then chatter.
    items = session_action_items(settings, nlp, [
        ("Project Manager", "Okay, so that's all for today I think."),
        ("Project Manager", "Um after the meeting we're gonna each complete a questionnaire and a summary."),
        ("Project Manager", "Um I'll make sure to put up um the minutes and the project documentation."),
        ("Marketing Expert", "Yeah the weather was nice this morning."),
        ("Project Manager", "Industrial Designer, you will look at the components concept by Friday."),
    ])
    quotes = {item.quote for item in items}
    assert all(item.section == Section.ACTION_ITEM and item.action is not None for item in items)
    assert "Um I'll make sure to put up um the minutes and the project documentation." in quotes
    assert "Yeah the weather was nice this morning." not in quotes
    owners = {item.action.owner for item in items}
    assert owners <= {"Project Manager", "Industrial Designer", GROUP, None}
    assert np.all(np.diff([item.confidence for item in items]) <= 0)


def test_a_peer_circles_dated_promise_is_listed_with_its_day(settings, nlp):
    # A first meeting of mentors: neither model, trained on AMI, reads Sam's promise as one.
    items = {item.speaker: item for item in session_action_items(settings, nlp, [
        ("Maria", "Welcome everyone, today we look at onboarding new mentors."),
        ("Sam", "I think the biggest problem is that mentors don't know what a first meeting should look like."),
        ("Maria", "Good point. I'll send the template by next Tuesday."),
        ("Sam", "And I will call the two new mentors before Friday to check in."),
    ])}
    assert items["Sam"].action.owner == "Sam"
    assert items["Sam"].action.due == date(2024, 3, 8)  # the Friday after the Wednesday session
    assert items["Sam"].statement == "Sam will call the two new mentors to check in before Friday."


@pytest.mark.slow
def test_local_generator_task_is_grounded_or_refused(llama_generator, nlp):
    quote = "Um I'll make sure to put up um the minutes and the project documentation."
    item = action(nlp, quote)
    task = TaskWriter(llama_generator, nlp).task(quote, "", item)
    assert task is None or task_problem(task, quote, nlp) is None


@pytest.mark.parametrize(
    ("text", "promise"),
    [
        ("And I will call the two new mentors before Friday to check in.", True),
        ("I'm going to send you the slides by next Monday.", True),
        ("I'll do it by Monday, I promise.", True),
        ("We'll share the notes on Tuesday.", True),
        ("I called the two new mentors on Friday.", False),  # done, not promised
        ("You will call the mentors before Friday.", False),  # handed out: the detectors' call
        ("I will call the mentors.", False),  # no day: the detectors' call
        ("Thank you all for coming on Friday.", False),
    ],
)
def test_a_dated_promise_is_a_commitment(nlp, text, promise):
    assert promises_by_date(nlp(text)[:]) is promise
