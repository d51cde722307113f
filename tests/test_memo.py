"""The memo stage on real meeting text: TS3010a (AMI), turns 103–164, where a design team shares
experiences with remote controls and proposes features. Insights are built by hand from verbatim
quotes, the way the structure stage hands them over."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from markupsafe import escape

from insightcap.insights.nlp import load_nlp
from insightcap.insights.schema import ActionItem, Insight, Section, SessionInsights, Topic
from insightcap.memo.checks import is_near_duplicate, question_problem, title_problem
from insightcap.memo.draft import DETERMINISTIC, build_memo
from insightcap.memo.followups import ThemeEvidence, prompt_instructions
from insightcap.memo.render import escape_markdown, format_timestamp, render_memo
from insightcap.memo.templated import key_phrase
from insightcap.transcript.schema import Segment, Transcript

FIRST_TURN, LAST_TURN = 103, 164
SESSION_OFFSET = 600.0  # the excerpt starts ten minutes into the meeting
WORDS_PER_SECOND = 2.5


def _clean(text: str) -> str:
    """QMSum turn text without its annotation markers ({vocalsound}, {disfmarker}, {gap})."""
    text = re.sub(r"\{\w+\}", " ", text)
    text = re.sub(r"\s+([.,?!])", r"\1", " ".join(text.split()))
    return text.strip()


def _transcript(shared_eval: Path) -> Transcript:
    with (shared_eval / "qmsum" / "meetings.jsonl").open(encoding="utf-8") as lines:
        meeting = next(m for m in map(json.loads, lines) if m["meeting_id"] == "TS3010a")
    segments, clock = [], SESSION_OFFSET
    for turn in meeting["turns"][FIRST_TURN : LAST_TURN + 1]:
        text = _clean(turn["text"])
        length = max(1.0, len(text.split()) / WORDS_PER_SECOND)
        segments.append(Segment(start=clock, end=clock + length, text=text, speaker=turn["speaker"]))
        clock += length
    return Transcript(segments=segments, duration=clock, source="import", produced_by="qmsum")


def _said(
    transcript: Transcript, turn: int, quote: str, section: Section, statement: str, topic: int, **extra
) -> Insight:
    segment = transcript.segments[turn - FIRST_TURN]
    assert quote in segment.text, f"not verbatim in turn {turn}: {quote!r}"
    return Insight(
        section=section,
        statement=statement,
        quote=quote,
        speaker=segment.speaker,
        start=segment.start,
        end=segment.end,
        topic_index=topic,
        **extra,
    )


def _session(transcript: Transcript) -> SessionInsights:
    S = Section
    said = lambda *args, **extra: _said(transcript, *args, **extra)  # noqa: E731
    insights = [
        said(
            103,
            "we will sell the t at twenty five Euros. And we have only twenty of twelve and a half Euro to make it.",
            S.CONTEXT,
            "The remote sells for 25 euros and must cost at most 12.50 euros to make.",
            0,
        ),
        said(108, "Big one, they are uh not easy to use.", S.REACTION, "Big remotes are not easy to use.", 0),
        said(
            110,
            "g big buttons, m uh that's easier to use than uh",
            S.IDEA,
            "Big buttons are easier to use than many small ones.",
            0,
        ),
        said(
            111,
            "Is this positive or negative, that uh big buttons?",
            S.QUESTION,
            "Are big buttons positive or negative",
            0,
        ),
        said(112, "Big buttons, positive.", S.REACTION, "Big buttons are positive.", 0),
        said(
            118,
            "I think it's positive if there's a a LED uh uh a LED on the corner of the of the remote.",
            S.IDEA,
            "An LED on the corner shows the remote has batteries and is working.",
            0,
        ),
        said(
            124,
            "We have uh four distinctive remote controls for that.",
            S.CONTEXT,
            "One household juggles four separate remote controls.",
            0,
        ),
        said(126, "That's not really ea easy.", S.REACTION, "Four remotes are not easy.", 0),
        said(
            128,
            "So it would be nice if we have one for all.",
            S.IDEA,
            "One remote control for all devices.",
            0,
        ),
        said(
            131,
            "So what ideas do you have for it, for the new remote control?",
            S.QUESTION,
            "What ideas are there for the new remote control",
            1,
        ),
        said(132, "The weight. Not not too heavy.", S.IDEA, "The remote should not be too heavy.", 1),
        said(
            136,
            "Like uh some kind of rubber on it. Or hard uh hard plastic.",
            S.STRATEGY,
            "Protect the remote with rubber or hard plastic so it does not break when dropped.",
            1,
        ),
        said(
            138,
            "When you push a but a button on the T_V_, then you hear some uh some sort of bleep.",
            S.IDEA,
            "A button on the TV makes a lost remote bleep so it can be found.",
            1,
        ),
        said(150, "Yeah well that's that are good ideas.", S.REACTION, "The ideas so far are good.", 1),
        said(
            150,
            "not too expensive uh material. So probably plastic or something.",
            S.STRATEGY,
            "Stay within budget with an inexpensive material such as plastic.",
            1,
        ),
        said(
            153,
            "from a marketing point of view, it also has to look nice. Or you won't sell it.",
            S.REACTION,
            "It has to look nice or it will not sell.",
            1,
        ),
        said(
            155,
            "on our website we can see what products we already have.",
            S.RESOURCE,
            "The company website lists the products the remote must work with.",
            1,
            resource_name="the company website",
        ),
        said(161, "it it won't take a lot of batteries.", S.IDEA, "The remote should use few batteries.", 1),
        said(162, "So more ideas?", S.QUESTION, "Are there more ideas for the remote", 1),
        said(
            164,
            "Next instructions you'll get in your email.",
            S.ACTION_ITEM,
            "The team gets the next instructions by email.",
            2,
            action=ActionItem(
                owner="Project Manager",
                task="Send the next instructions by email",
                due_text="in half an hour",
            ),
        ),
    ]
    topics = [
        _topic(
            transcript,
            0,
            "Experiences with remote controls",
            (103, 130),
            ["buttons", "LED", "remote controls"],
            "Participants compared the remote controls they use at home.",
        ),
        _topic(
            transcript,
            1,
            "Features of the new remote control",
            (131, 163),
            ["rubber", "plastic", "batteries", "bleep"],
        ),
        _topic(transcript, 2, "Next steps", (164, 164), ["email", "next meeting"]),
    ]
    return SessionInsights(topics=topics, insights=insights)


def _topic(
    transcript: Transcript,
    index: int,
    title: str,
    turns: tuple[int, int],
    keywords: list[str],
    summary: str = "",
) -> Topic:
    first, last = (transcript.segments[turn - FIRST_TURN] for turn in turns)
    return Topic(
        index=index, title=title, keywords=keywords, start=first.start, end=last.end, summary=summary
    )


@pytest.fixture
def meeting(shared_eval: Path) -> tuple[Transcript, SessionInsights]:
    transcript = _transcript(shared_eval)
    return transcript, _session(transcript)


def _deterministic_memo(meeting):
    transcript, insights = meeting
    return build_memo(
        title="Kick-off: remote control",
        transcript=transcript,
        insights=insights,
        generator=None,
        program="Product design circle",
    )


def _theme_fragments(theme) -> list[str]:
    """Pieces of a theme's own content a specific question must contain at least one of."""
    insights = [*theme.ideas, *theme.strategies, *theme.reactions, *theme.questions_raised, *theme.resources]
    return [key_phrase(theme.title)] + [
        " ".join(text.split()[:4]) for i in insights for text in (i.statement, i.quote)
    ]


def test_deterministic_memo_has_specific_followups_commitments_and_open_questions(meeting):
    memo = _deterministic_memo(meeting)

    assert memo.generated_with == DETERMINISTIC
    assert [theme.title for theme in memo.themes] == [
        "Experiences with remote controls",
        "Features of the new remote control",
    ]
    assert memo.participants == ["Project Manager", "Industrial Designer", "Marketing", "User Interface"]
    for theme in memo.themes:
        assert theme.follow_up_questions
        for question in theme.follow_up_questions:
            assert question.endswith("?")
            assert any(fragment in question for fragment in _theme_fragments(theme)), question
    features = memo.themes[1]
    assert [s.quote for s in features.strategies][0].startswith("Like uh some kind of rubber")
    assert any(
        "Protect the remote with rubber" in q or "more ideas" in q for q in features.follow_up_questions
    )

    (commitment,) = memo.commitments
    assert commitment.action.owner == "Project Manager" and commitment.action.due_text == "in half an hour"
    # Answered questions (someone else replied with an insight right after) are not left open.
    assert [q.quote for q in memo.open_questions] == ["So more ideas?"]
    assert len(memo.next_session_questions) == 3
    assert "Send the next instructions by email" in memo.next_session_questions[0]
    assert "So more ideas" not in memo.background and "2 themes" in memo.background


def test_markdown_shows_every_theme_and_quote_with_speaker_and_time(meeting):
    memo = _deterministic_memo(meeting)
    text = render_memo(memo, "md")

    for theme in memo.themes:
        assert f"### {memo.themes.index(theme) + 1}. {theme.title}" in text
        for insight in [*theme.ideas, *theme.strategies, *theme.reactions, *theme.questions_raised]:
            assert (
                f"“{escape_markdown(insight.quote)}” — {insight.speaker} [{format_timestamp(insight.start)}]"
                in text
            )
    assert "T\\_V\\_" in text  # underscores in a quote do not turn into emphasis
    assert "Project Manager**: Send the next instructions by email (due in half an hour)" in text
    for question in memo.next_session_questions:
        assert escape_markdown(question) in text


def test_html_escapes_transcript_text_and_links_every_quote_to_its_time(meeting):
    transcript, insights = meeting
    insights.insights[1].quote = "Big one <script>alert('x')</script> not easy to use."
    memo = build_memo(title="Kick-off <b>", transcript=transcript, insights=insights, generator=None)
    page = render_memo(memo, "html")

    assert "<script" not in page and "&lt;script&gt;" in page
    assert "<title>Kick-off &lt;b&gt;</title>" in page
    for theme in memo.themes:
        assert str(escape(theme.title)) in page
        for insight in [*theme.ideas, *theme.strategies, *theme.reactions]:
            link = f'<a class="t" href="#t={int(insight.start)}">[{format_timestamp(insight.start)}]</a>'
            assert (
                f'<q>{escape(insight.quote)}</q> <span class="who">— {insight.speaker}</span> {link}' in page
            )
    assert "http" not in page.replace("https://", "")  # self-contained: no external assets
    markdown = render_memo(memo, "md")
    assert "\\<script\\>" in markdown and "<script>" not in markdown


def test_a_program_can_use_its_own_template(meeting, tmp_path: Path):
    (tmp_path / "memo.md.j2").write_text(
        "{{ memo.title }}: {{ memo.themes | length }} themes\n", encoding="utf-8"
    )
    assert (
        render_memo(_deterministic_memo(meeting), "md", template_dir=tmp_path)
        == "Kick-off: remote control: 2 themes\n"
    )


@pytest.mark.parametrize(
    "title, phrase",
    [
        ("Features of the new remote control", "features of the new remote control"),
        ("Remote Control Buttons and LEDs: Positive vs. Negative", "remote control buttons and LEDs"),
        ("TV remotes at home", "TV remotes at home"),
    ],
)
def test_key_phrase_reads_mid_sentence(title, phrase):
    assert key_phrase(title) == phrase


@pytest.mark.parametrize("seconds, expected", [(0, "00:00"), (723.9, "12:03"), (3723, "1:02:03")])
def test_timestamps(seconds, expected):
    assert format_timestamp(seconds) == expected


@pytest.fixture
def design_evidence(meeting) -> ThemeEvidence:
    memo = _deterministic_memo(meeting)
    return ThemeEvidence.of(memo.themes[1], ["rubber", "plastic", "batteries", "bleep"])


@pytest.mark.parametrize(
    "question, problem",
    [
        ("How could rubber or hard plastic keep the remote from breaking without going over budget?", None),
        ("Why does a bleep from the TV matter so much when a remote gets lost in the couch?", None),
        ("Should the remote use rubber so it does not break when dropped?", "yes or no"),
        ("Can we find the money for hard plastic?", "yes or no"),
        ("What did everyone learn today that they want to try at work?", "does not mention"),
        ("What question can the facilitator ask the group next time about rubber?", "instructions"),
        ("Great point. How would rubber protect the remote?", "more than one sentence"),
        ("Rubber?", "words"),
        (
            "What about rubber and plastic and the bleep and the batteries and the weight and the buttons "
            "and the LED and the colour and the price of the whole remote control?",
            "words",
        ),
        ("How would rubber help? And plastic?", "not a single question"),
        (
            "What ideas do you have for it, for the new remote control?",
            "repeats a question a participant already asked",
        ),
        ("How would the group test the positive vs. negative effect of rubber on the remote?", None),
    ],
)
def test_followup_validation(settings, design_evidence, question, problem):
    instructions = prompt_instructions("followup_question.txt")
    found = question_problem(
        question,
        evidence=design_evidence.text,
        instructions=instructions,
        nlp=load_nlp(settings),
        asked_in_session=design_evidence.participant_questions,
    )
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    "title, ok",
    [
        ("Rubber, plastic and a bleep", True),
        ("Hard plastic or rubber for a sturdy remote", True),
        ("Innovative Strategies for Customer Engagement Success", False),
        ("Remote", False),
    ],
)
def test_title_validation(settings, design_evidence, title, ok):
    found = title_problem(
        title,
        evidence=design_evidence.text,
        instructions=prompt_instructions("theme_title.txt"),
        nlp=load_nlp(settings),
    )
    assert (found is None) == ok, found


@pytest.mark.slow
def test_near_duplicate_questions_are_caught(settings):
    from insightcap.themes.embed import Embedder

    embedder = Embedder(settings)
    earlier = ["How could rubber or hard plastic keep the remote from breaking when it is dropped?"]
    assert is_near_duplicate(
        "How could rubber or hard plastic stop the remote from breaking when dropped?", earlier, embedder
    )
    assert not is_near_duplicate(
        "Why would one remote for the TV, video and satellite be easier?", earlier, embedder
    )


@pytest.mark.slow
def test_memo_with_the_packaged_llama_model_has_a_validated_question_per_theme(
    settings,
    meeting,
    llama_generator,
):
    transcript, insights = meeting
    started = time.perf_counter()
    memo = build_memo(
        title="Kick-off",
        transcript=transcript,
        insights=insights,
        generator=llama_generator,
        settings=settings,
    )
    seconds_per_theme = (time.perf_counter() - started) / len(memo.themes)
    print(f"llama titles + follow-ups: {seconds_per_theme:.1f} s per theme")

    assert memo.generated_with == llama_generator.name
    nlp = load_nlp(settings)
    instructions = prompt_instructions("followup_question.txt")
    for theme in memo.themes:
        evidence = ThemeEvidence.of(theme, insights.topics[theme.topic_index].keywords)
        generated = theme.follow_up_questions[0]
        assert (
            question_problem(generated, evidence=evidence.text, instructions=instructions, nlp=nlp) is None
        ), generated
        assert len(theme.follow_up_questions) == 2


def test_a_failing_generator_falls_back_to_the_templates_and_says_so(settings, meeting):
    from insightcap.generator.openai_compat import OpenAICompatibleGenerator

    transcript, insights = meeting
    unreachable = OpenAICompatibleGenerator(
        "http://127.0.0.1:9/v1", "llama3.2"
    )  # port 9: discard, never HTTP
    memo = build_memo(
        title="Kick-off", transcript=transcript, insights=insights, generator=unreachable, settings=settings
    )

    assert memo.generated_with.startswith(
        DETERMINISTIC + ": the generator llama3.2 at http://127.0.0.1:9/v1 failed"
    )
    assert [t.follow_up_questions for t in memo.themes] == [
        t.follow_up_questions for t in _deterministic_memo(meeting).themes
    ]


def test_a_one_theme_session_still_gets_three_opening_questions(meeting):
    transcript, insights = meeting
    only_features = insights.model_copy(
        update={"insights": [i for i in insights.insights if i.topic_index == 1]}
    )
    memo = build_memo(title="Features", transcript=transcript, insights=only_features, generator=None)

    assert [theme.title for theme in memo.themes] == ["Features of the new remote control"]
    assert memo.commitments == [] and memo.background_insights == []
    assert len(memo.next_session_questions) == 3
    assert all("remote" in question or "rubber" in question for question in memo.next_session_questions)
