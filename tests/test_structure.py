"""The structure stage on a real meeting: topics, sections, action items and verbatim evidence."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from insightcap.config import Settings
from insightcap.insights import topics
from insightcap.insights.actions import extract_action
from insightcap.insights.nlp import fluent_text, load_nlp
from insightcap.insights.schema import Insight, Section, SessionInsights
from insightcap.insights.sentences import split_sentences
from insightcap.insights.structure import extract_insights
from insightcap.insights.topics import keywords_by_topic, meetings_saying
from insightcap.transcript.schema import Segment, Transcript, Word

SECONDS_PER_WORD = 0.4  # about 150 words a minute, a usual speaking rate
PAUSE = 0.3


def detokenised(text: str) -> str:
    """QMSum's tokenised text ("we 're on .", "{disfmarker}") as a caption file would show it."""
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r" (?=[,.?!]|'|n't\b)", "", text)
    return re.sub(r"\s+", " ", text).strip()


def meeting_slice(shared_eval: Path, meeting_id: str, seconds: float) -> Transcript:
    """The first `seconds` of a real QMSum meeting as an imported transcript: real words and
    speakers, synthetic times at a steady speaking rate."""
    with (shared_eval / "qmsum" / "meetings.jsonl").open(encoding="utf-8") as handle:
        meeting = next(
            json.loads(line)
            for line in handle
            if json.loads(line)["meeting_id"] == meeting_id
        )
    segments: list[Segment] = []
    clock = 0.0
    for turn in meeting["turns"]:
        text = detokenised(turn["text"])
        if not text:
            continue
        duration = SECONDS_PER_WORD * len(text.split())
        segments.append(
            Segment(
                start=clock, end=clock + duration, text=text, speaker=turn["speaker"]
            )
        )
        clock += duration + PAUSE
        if clock >= seconds:
            break
    return Transcript(
        segments=segments, duration=clock, source="import", produced_by="qmsum"
    )


def with_word_timings(segment: Segment) -> Segment:
    """The segment as ASR would give it: timed words, each as long as its share of the characters."""
    words, clock = [], segment.start
    per_char = (segment.end - segment.start) / len(segment.text)
    for word in segment.text.split():
        words.append(
            Word(text=" " + word, start=clock, end=clock + per_char * len(word))
        )
        clock += per_char * (len(word) + 1)
    # Whisper's segment text starts with a space, like its words.
    return segment.model_copy(
        update={"words": words, "speaker": None, "text": " " + segment.text}
    )


_STRUCTURED: dict[Path, SessionInsights] = {}


@pytest.fixture
def meeting(shared_eval: Path) -> Transcript:
    return meeting_slice(shared_eval, "ES2009b", seconds=15 * 60)


@pytest.fixture
def structured(
    meeting: Transcript, shared_eval: Path, settings: Settings
) -> SessionInsights:
    """The stage's output on the 15-minute slice, computed once for all the tests that read it."""
    if shared_eval not in _STRUCTURED:
        _STRUCTURED[shared_eval] = extract_insights(
            meeting, settings, session_date=date(2026, 11, 23)
        )
    return _STRUCTURED[shared_eval]


@pytest.mark.slow
def test_topics_are_contiguous_and_cover_every_sentence(
    structured: SessionInsights,
) -> None:
    assert len(structured.topics) >= 2
    covered = [index for topic in structured.topics for index in topic.sentence_indices]
    assert covered == list(range(len(structured.sentences)))
    for topic in structured.topics:
        assert topic.title and topic.keywords and topic.opening
        assert topic.start <= topic.end
        for line in topic.opening:
            # Each opening line is the topic's own sentence, read as prose: its fillers are gone.
            assert topic.start <= line.start <= topic.end and line.speaker
            assert not re.search(r"\b(um|uh)\b", line.text, re.IGNORECASE)


@pytest.mark.slow
def test_every_insight_quotes_the_transcript_verbatim(
    structured: SessionInsights, meeting: Transcript
) -> None:
    assert structured.insights
    for insight in structured.insights:
        sentence = structured.sentences[insight.sentence_indices[0]]
        assert insight.quote in meeting.segments[sentence.segment_index].text
        assert insight.speaker == meeting.segments[sentence.segment_index].speaker
        assert 0.0 <= insight.start <= insight.end <= meeting.duration
        assert len(insight.statement.split()) <= 26


@pytest.mark.slow
def test_insights_are_ordered_by_topic_then_section(
    structured: SessionInsights,
) -> None:
    order = list(Section)
    keys = [
        (insight.topic_index, order.index(insight.section))
        for insight in structured.insights
    ]
    assert keys == sorted(keys)
    assert {insight.section for insight in structured.insights} >= {
        Section.QUESTION,
        Section.IDEA,
    }


def test_asr_sentence_times_come_from_word_timings(
    meeting: Transcript, settings: Settings
) -> None:
    segment = with_word_timings(
        next(s for s in meeting.segments if s.text.count(". ") >= 2)
    )
    sentences = split_sentences(Transcript(segments=[segment]), load_nlp(settings))
    assert len(sentences) >= 2
    word_starts = {word.start for word in segment.words}
    for parsed in sentences:
        assert parsed.sentence.start in word_starts
        assert parsed.sentence.text == parsed.sentence.text.strip()
        assert parsed.sentence.speaker is None
    assert [p.sentence.start for p in sentences] == sorted(
        p.sentence.start for p in sentences
    )


@pytest.mark.slow
def test_commitment_question_and_resource_are_recognised(settings: Settings) -> None:
    said = [
        ("Maria", "I'll send you the template by Friday."),
        (
            "Tom",
            "What do you think we should do about the battery life of the remote control?",
        ),
        (
            "Ana",
            "You can find the debrief template at https://example.org/templates/debrief.",
        ),
    ]
    segments = [
        Segment(start=4.0 * i, end=4.0 * i + 3.5, text=text, speaker=who)
        for i, (who, text) in enumerate(said)
    ]
    result = extract_insights(
        Transcript(segments=segments, duration=12.0),
        settings,
        session_date=date(2026, 11, 23),
    )
    by_quote = {insight.quote: insight for insight in result.insights}
    commitment = by_quote["I'll send you the template by Friday."]
    assert commitment.section == Section.ACTION_ITEM
    assert commitment.action is not None
    assert commitment.action.owner == "Maria"
    assert commitment.action.due == date(2026, 11, 27)
    assert commitment.action.due_text == "by Friday"
    assert commitment.action.task == "send you the template"
    assert by_quote[said[1][1]].section == Section.QUESTION
    resource = by_quote[said[2][1]]
    assert resource.section == Section.RESOURCE
    assert resource.resource_name == "https://example.org/templates/debrief"


def test_owner_is_never_guessed(settings: Settings) -> None:
    nlp = load_nlp(settings)
    group = extract_action(
        nlp("We'll draft the proposal next week.")[:], "Maria", date(2026, 11, 23)
    )
    assert group.owner == "the group" and group.due == date(2026, 11, 30)  # "we" is said, not guessed
    unknown = extract_action(
        nlp("I'll update the budget by the end of the month.")[:], None, None
    )
    assert (
        unknown.owner is None
        and unknown.due is None
        and unknown.due_text == "by the end of the month"
    )
    addressed = extract_action(
        nlp("John, could you look at the costs?")[:], "Maria", None
    )
    assert addressed.owner == "John" and addressed.task == "look at the costs"


@pytest.mark.parametrize(
    ("statement", "quote", "restates"),
    [
        # The deterministic statement of a short sentence: the same words without the fillers.
        ("What did you guys think about the roles?", "What did you guys think about the the the roles?", True),
        ("We went over it in the last meeting.", "Um, we went over it in the last meeting, um.", True),
        # Cut short: the first words of the same, which the quote says in full.
        ("Basically I was evaluating the product…", "Okay, basically I was evaluating the product right now", True),
        # Reworded: it says something the quote alone does not.
        ("Send the budget to Anna by Friday.", "I will send it to her.", False),
    ],
)
def test_a_memo_shows_a_statement_only_when_it_is_more_than_the_quote_cleaned(statement, quote, restates):
    insight = Insight(section=Section.IDEA, statement=statement, quote=quote, start=0.0, end=1.0, topic_index=0)
    assert insight.restates_quote is restates


@pytest.mark.parametrize(
    ("said", "fluent"),
    [
        ("It's it's a good idea.", "It's a good idea."),
        ("I think, I think we should um go.", "I think we should go."),
        ("We need to we need to buy the the tools.", "We need to buy the tools."),
        ("The tools would break the tools.", "The tools would break the tools."),
        # ES2009d: a word cut off and said again in full; a short word of its own stays.
        ("I will see wh what my handwriting looks like.", "I will see what my handwriting looks like."),
        ("Let's go to today's plan.", "Let's go to today's plan."),
    ],
)
def test_fluent_text_drops_restarts_but_keeps_words_said_again_later(settings: Settings, said, fluent) -> None:
    assert fluent_text(load_nlp(settings)(said)) == fluent


def test_a_topic_is_not_named_after_a_person_or_a_date(settings: Settings) -> None:
    nlp = load_nlp(settings)
    first = ["Marcus set up the mentoring rota in March.", "Marcus says the rota works on Tuesday.",
             "Ask Marcus for the rota template by Friday."]
    second = ["The budget is twelve euros.", "We keep the rubber case within the budget."]
    spans = [[nlp(text)[:] for text in topic] for topic in (first, second)]
    assert "marcus" in keywords_by_topic(spans)[0]  # the small model takes him for an organisation
    keywords = keywords_by_topic(spans, ["Marcus Johnson", "Speaker 2"])[0]
    assert keywords[0] == "rota template" and not {"marcus", "march", "tuesday", "friday"} & set(keywords), keywords
    # A speaker called by a role keeps the word as a subject: only proper nouns are taken for names.
    marketing = [[nlp("The marketing budget is twelve euros.")[:]], [nlp("The rubber case is green.")[:]]]
    assert "marketing" in " ".join(keywords_by_topic(marketing, ["Marketing"])[0])


def test_a_topic_is_named_by_what_it_is_about_not_by_words_every_meeting_says(settings: Settings, monkeypatch):
    nlp = load_nlp(settings)
    first = ["We talked a lot, a lot, a lot about it.", "A lot of people want a battery.", "That's a lot of battery, a lot."]
    second = ["The budget is twelve euros.", "We keep the rubber case within the budget.", "A lot fits the budget."]
    spans = [[nlp(text)[:] for text in topic] for topic in (first, second)]
    assert keywords_by_topic(spans)[0] == ["battery", "lot"]
    seen, meetings = meetings_saying()
    assert seen["people"] > meetings / 2 > seen.get("battery", 0)
    # Without the background of other meetings, a word said once in the session would name it.
    monkeypatch.setattr(topics, "meetings_saying", lambda: ({}, meetings))
    assert keywords_by_topic(spans)[0][0] == "people"
