"""The memo stage on real meeting text: TS3010a (AMI), turns 103–164, where a design team shares
experiences with remote controls and proposes features. Insights are built by hand from verbatim
quotes, the way the structure stage hands them over."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape

from insightcap.insights.nlp import load_nlp
from insightcap.insights.schema import (
    ActionItem,
    Insight,
    OpeningLine,
    Section,
    Sentence,
    SessionInsights,
    Topic,
)
from insightcap.memo.checks import (
    clean_reply,
    is_near_duplicate,
    question_problem,
    summary_problem,
    title_problem,
)
from insightcap.memo.documents import markdown_to_docx, render_markdown
from insightcap.memo.draft import DETERMINISTIC, build_memo
from insightcap.memo.export import absolute_links, export_memo
from insightcap.memo.followups import FollowupWriter, ThemeEvidence, prompt_instructions
from insightcap.memo.overview import language_note
from insightcap.memo.render import (
    MemoTemplateError,
    escape_markdown,
    format_timestamp,
    program_memo,
    program_template_dir,
    render_memo,
)
from insightcap.memo.schema import MemoDraft, MemoTheme
from insightcap.memo.summary import (
    BACKGROUND_INSIGHTS,
    SummaryCandidates,
    background_insights,
    linked_account,
)
from insightcap.memo.templated import (
    key_phrase,
    next_session_questions,
    template_questions,
)
from insightcap.themes.schema import ThemeQuote, ThemeRecurrence
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
    said = lambda *args, **extra: _said(transcript, *args, **extra)
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
            opening_turns=(104, 120),
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
    opening_turns: tuple[int, ...] = (),
) -> Topic:
    first, last = (transcript.segments[turn - FIRST_TURN] for turn in turns)
    opening = [transcript.segments[turn - FIRST_TURN] for turn in opening_turns]
    return Topic(
        index=index, title=title, keywords=keywords, start=first.start, end=last.end,
        opening=[OpeningLine(text=line.text, speaker=line.speaker, start=line.start) for line in opening],
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


def test_a_themes_opening_lines_show_who_said_each_and_link_to_its_own_time(meeting):
    memo = _deterministic_memo(meeting)
    lines = memo.themes[[theme.title for theme in memo.themes].index("Experiences with remote controls")].opening
    assert len(lines) == 2 and lines[0].start < lines[1].start
    markdown, page = render_memo(memo, "md"), render_memo(memo, "html", session_id="ts3010a")
    for line in lines:
        assert f"{line.speaker}: {escape_markdown(line.text)} [{format_timestamp(line.start)}]" in markdown
        link = f'<a class="t" href="/sessions/ts3010a?t={int(line.start)}">[{format_timestamp(line.start)}]</a>'
        assert f'<span class="who">{line.speaker}:</span> {escape(line.text)} {link}' in page
    # The lines are a paragraph of their own, apart from the section heading after them.
    assert f"{escape_markdown(lines[-1].text)} [{format_timestamp(lines[-1].start)}]\n\n" in markdown


def test_a_theme_does_not_open_with_a_sentence_the_background_already_quotes(meeting):
    transcript, insights = meeting
    quoted = build_memo(title="Kick-off", transcript=transcript, insights=insights, generator=None).background_insights[0]
    topic = next(topic for topic in insights.topics if topic.index == quoted.topic_index)
    kept = topic.opening[0]
    topic.opening = [kept, OpeningLine(text=quoted.quote, speaker=quoted.speaker, start=quoted.start)]
    memo = build_memo(title="Kick-off", transcript=transcript, insights=insights, generator=None)
    assert memo.background_insights[0] == quoted
    assert next(theme for theme in memo.themes if theme.topic_index == topic.index).opening == [kept]


def test_a_session_structured_before_opening_lines_keeps_its_summary_at_the_topics_start(meeting):
    transcript, insights = meeting
    topic = insights.topics[0]
    insights.topics[0] = Topic.model_validate(
        topic.model_dump(exclude={"opening"}) | {"summary": "Participants compared their remote controls."}
    )
    memo = build_memo(title="Kick-off", transcript=transcript, insights=insights, generator=None)
    markdown = render_memo(memo, "md")
    assert f"Participants compared their remote controls. [{format_timestamp(topic.start)}]" in markdown


def test_html_escapes_transcript_text_and_links_every_quote_to_its_time(meeting):
    transcript, insights = meeting
    insights.insights[1].quote = "Big one <script>alert('x')</script> not easy to use."
    memo = build_memo(title="Kick-off <b>", transcript=transcript, insights=insights, generator=None)
    page = render_memo(memo, "html", session_id="ts3010a")

    assert "<script" not in page and "&lt;script&gt;" in page
    assert "<title>Kick-off &lt;b&gt;</title>" in page
    for theme in memo.themes:
        assert str(escape(theme.title)) in page
        for insight in [*theme.ideas, *theme.strategies, *theme.reactions]:
            link = f'<a class="t" href="/sessions/ts3010a?t={int(insight.start)}">[{format_timestamp(insight.start)}]</a>'
            assert (
                f'<q>{escape(insight.quote)}</q> <span class="who">— {insight.speaker}</span> {link}' in page
            )
    assert "http" not in page.replace("https://", "")  # self-contained: no external assets
    markdown = render_memo(memo, "md")
    assert "\\<script\\>" in markdown and "<script>" not in markdown


def test_without_a_session_id_the_html_shows_times_unlinked(meeting):
    page = render_memo(_deterministic_memo(meeting), "html")
    assert '<a class="t"' not in page and '<span class="t">[' in page


def test_a_program_can_use_its_own_template(meeting, tmp_path: Path):
    (tmp_path / "memo.md.j2").write_text(
        "{{ memo.title }}: {{ memo.themes | length }} themes\n", encoding="utf-8"
    )
    assert (
        render_memo(_deterministic_memo(meeting), "md", template_dir=tmp_path)
        == "Kick-off: remote control: 2 themes\n"
    )


def test_a_programs_folder_overrides_only_the_formats_it_has(meeting, tmp_path: Path):
    memo = _deterministic_memo(meeting).model_copy(update={"program": "Demo Circle!"})
    folder = program_template_dir(tmp_path, "Demo Circle!")
    assert folder == tmp_path / "templates" / "demo-circle"
    folder.mkdir(parents=True)
    (folder / "memo.md.j2").write_text("{{ memo.program }}\n", encoding="utf-8")
    assert program_memo(tmp_path, memo, "md") == "Demo Circle!\n"
    assert program_memo(tmp_path, memo, "html") == render_memo(memo, "html")


def test_a_broken_program_template_says_which_file_and_what_to_do(meeting, tmp_path: Path):
    (tmp_path / "memo.md.j2").write_text("{{ memo.facilitator }}\n", encoding="utf-8")
    with pytest.raises(MemoTemplateError, match=r"memo\.md\.j2 \(line 1\) cannot be used: .*facilitator.*delete the file"):
        render_memo(_deterministic_memo(meeting), "md", template_dir=tmp_path)


def test_a_memo_with_nothing_to_ask_next_time_has_no_empty_heading_for_it():
    draft = MemoDraft(title="Eleven seconds", duration_seconds=11.0, background="The group met for less than a minute.")
    for fmt in ("md", "html"):
        assert "Questions to open the next session" not in render_memo(draft, fmt)


@pytest.mark.parametrize(("seconds", "shown"), [(11.0, "[mm:ss]"), (9015.0, "[h:mm:ss]")])
def test_the_footer_names_the_form_the_memos_times_take(seconds, shown):
    draft = MemoDraft(title="Circle", duration_seconds=seconds)
    for fmt in ("md", "html"):
        assert f"Times in {shown} count from the start of the session" in render_memo(draft, fmt)


@pytest.mark.parametrize(("drafted_with", "said"), [
    ("a local text model (Qwen2.5-Coder 0.5B)", "with a local text model (Qwen2.5-Coder 0.5B)"),
    ("", "without a text model"),
])
def test_the_footer_says_in_plain_words_which_model_drafted_the_memo(drafted_with, said):
    """Facilitators share the memo: it names the model that wrote it, not a runtime or a file."""
    draft = MemoDraft(title="Circle", drafted_with=drafted_with,
                      generated_with="llama.cpp: qwen-coder-0.5b/model.gguf" if drafted_with else DETERMINISTIC)
    for fmt in ("md", "html"):
        memo = render_memo(draft, fmt)
        assert f"Drafted by insightcap on this computer, {said}; check it before sharing." in memo
        assert "gguf" not in memo and "llama.cpp" not in memo and "deterministic" not in memo


def test_times_in_the_markdown_are_plain_and_still_link_in_every_rendering():
    """The editor and the .md show "[00:00]", not "\\[00:00\\]"; brackets that could start a link stay escaped."""
    from docx import Document

    assert escape_markdown("At [00:12] and [1:02:03]. [x](y) [00:12](/evil) [00:12]: z [00:12][r] \\[00:12]") == (
        "At [00:12] and [1:02:03]. \\[x\\](y) \\[00:12\\](/evil) \\[00:12\\]: z \\[00:12\\]\\[r\\] \\\\[00:12]")
    draft = MemoDraft(title="Circle", duration_seconds=30.0, background="Sam: We met to plan. [00:12]")
    markdown = render_memo(draft, "md")
    assert "Sam: We met to plan. [00:12]\n" in markdown and "\\[" not in markdown
    html = render_markdown(markdown, "s1")
    assert '<a class="t" href="/sessions/s1?t=12">[00:12]</a>' in html
    word = Document(io.BytesIO(markdown_to_docx(markdown, "Circle", "s1", APP_URL)))
    paragraph = next(p for p in word.paragraphs if p.text.startswith("Sam:"))
    assert [(link.text, link.url) for link in paragraph.hyperlinks] == [("[00:12]", f"{APP_URL}/sessions/s1?t=12")]
    # Word's File > Info names the memo and insightcap, not the library and its 2013 template.
    about = word.core_properties
    assert (about.title, about.author, about.last_modified_by) == ("Circle", "insightcap", "insightcap")
    assert "python-docx" not in about.comments and about.created.year >= 2026
    assert "We met to plan. [00:12]" in render_memo(draft, "html")


@pytest.mark.parametrize(("language", "warned"), [("fr", True), ("en", False), (None, False)])
def test_a_memo_of_speech_in_another_language_than_english_says_to_check_it(language, warned):
    transcript = Transcript(segments=[Segment(start=0.0, end=3.0, text="Bonjour à tous.")], language=language)
    draft = MemoDraft(title="Cercle", language_note=language_note(transcript))
    for fmt in ("md", "html"):
        assert ("recognised as language “fr”" in render_memo(draft, fmt)) is warned


def test_a_program_template_that_fails_while_rendering_is_reported_with_its_line(meeting, tmp_path: Path):
    (tmp_path / "memo.md.j2").write_text("# {{ memo.title }}\n\n{{ 1 / 0 }}\n", encoding="utf-8")
    with pytest.raises(MemoTemplateError, match=r"memo\.md\.j2 \(line 3\) cannot be used: division by zero"):
        render_memo(_deterministic_memo(meeting), "md", template_dir=tmp_path)


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


def test_a_template_follow_up_builds_on_what_matters_most_not_on_what_came_first():
    def asked(text: str, start: float) -> Insight:
        return Insight(section=Section.QUESTION, statement=text, quote=text + "?", speaker="Marketing",
                       start=start, end=start + 2, topic_index=0)

    celebrate, skins = asked("You guys ready to celebrate", 5), asked("Do we have other skins in play now", 50)
    theme = MemoTheme(topic_index=0, title="Final design", questions_raised=[celebrate, skins])
    worth = {celebrate.start: (-1.0, 0.9), skins.start: (2.0, 0.6)}
    questions = template_questions(theme, [celebrate, skins], lambda insight: worth[insight.start], limit=1)
    asked_again = "Marketing raised the question “Do we have other skins in play now?”"
    assert questions == [f"{asked_again}: what would a first step towards an answer look like?"]


def test_the_next_session_does_not_ask_again_an_open_question_a_theme_follow_up_asks():
    roles = Insight(section=Section.QUESTION, statement="What did you guys think about the roles",
                    quote="What did you guys think about the roles?", speaker="Speaker 1", start=5, end=7, topic_index=0)
    theme = MemoTheme(topic_index=0, title="Roles in the team", questions_raised=[roles], follow_up_questions=[
        "Speaker 1 raised the question “What did you guys think about the roles?”: what would a first step towards "
        "an answer look like?",
        "How could the team share the roles more evenly next time?",
    ])
    questions = next_session_questions([theme], [], [roles])
    # Its theme's follow-up asks it again already: the memo shows it as raised, as open and there.
    assert not any("What did you guys think about the roles?" in question for question in questions)
    assert "How could the team share the roles more evenly next time?" in questions


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


# Two participants' sentences of AMI ES2009d, and questions a 0.5B model wrote about them.
BRAINSTORMING = "I think had the issue been more serious we probably woulda brainstormed more during our meetings as a team."
SOLAR_CELLS = "So what we could do perhaps, a simple fix would maybe to switch away from the solar cells or take out the back-up battery."


@pytest.mark.parametrize(
    "question, grafted",
    [
        ("What would you do if the issue was more serious we probably woulda brainstormed more during our meetings as a team?", True),
        ("How could the team brainstorm more during meetings when an issue is serious?", False),
        ("What would change if the team acted on “we probably woulda brainstormed more during our meetings”?", False),
        ("What would you do if you were to switch away from the solar cells or take out the back-up battery?", False),
    ],
)
def test_a_followup_that_pastes_a_participants_own_voice_is_refused(settings, question, grafted):
    found = question_problem(
        question,
        evidence=f"{BRAINSTORMING} {SOLAR_CELLS}",
        instructions=prompt_instructions("followup_question.txt"),
        nlp=load_nlp(settings),
    )
    assert (found is not None and "pastes a participant's own words" in found) == grafted, found


@pytest.mark.parametrize(
    "reply, cleaned",
    [
        ("What would you do to test the process? (Speaker 1)", "What would you do to test the process?"),
        ('"**Rubber or plastic for the case**"', "Rubber or plastic for the case"),
        ("How could the group try the (cheaper) kinetic battery?", "How could the group try the (cheaper) kinetic battery?"),
        ("Rubber case (soft)", "Rubber case (soft)"),
    ],
)
def test_a_reply_loses_its_wrapping_and_a_trailing_note_but_keeps_brackets_within(reply, cleaned):
    assert clean_reply(reply) == cleaned


@pytest.mark.parametrize(
    "title, ok",
    [
        ("Rubber, plastic and a bleep", True),
        ("Hard plastic or rubber for a sturdy remote", True),
        ("Innovative Strategies for Customer Engagement Success", False),
        ("Remote", False),
        ("Remote: rubber, plastic, batteries, bleep", False),
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


@pytest.mark.parametrize(
    "reply, title",
    [
        # Too long as a whole, one side made up: the side the participants' words support is kept.
        ("Remote Design Workshop Summary: Hard Plastic or Rubber for a Sturdy Remote",
         "Hard Plastic or Rubber for a Sturdy Remote"),
        ("Rubber or plastic: what keeps a remote whole", "Rubber or plastic: what keeps a remote whole"),
        ("Innovative Strategies: Customer Engagement Success Story", None),
    ],
)
def test_a_generated_title_that_fails_as_a_whole_keeps_a_side_of_its_colon_that_passes(
    settings, design_evidence, reply, title
):
    writer = FollowupWriter(_ScriptedGenerator(reply), settings)
    assert writer.title(design_evidence) == title


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
    assert memo.drafted_with == "a local text model (Qwen2.5-Coder 0.5B)"
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
    assert memo.drafted_with == ""  # its footer says no text model wrote any of it
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
    fragments = _theme_fragments(memo.themes[0])
    assert all(any(f in question for f in fragments) for question in memo.next_session_questions)
    # Its one open question, "So more ideas?", is not worth asking again.
    assert not any("So more ideas?" in question for question in memo.next_session_questions)


# --- Themes that came up in earlier sessions of the program (issue #6) ---------------------------

EARLIER_TURN = 61  # TS3010b, the series' next meeting
EARLIER_QUOTE = "Uh but we can also use it uh a bleep like something, when the battery's empty, then there is a bleep."


def _earlier_moment(shared_eval: Path) -> ThemeQuote:
    with (shared_eval / "qmsum" / "meetings.jsonl").open(encoding="utf-8") as lines:
        meeting = next(m for m in map(json.loads, lines) if m["meeting_id"] == "TS3010b")
    turn = meeting["turns"][EARLIER_TURN]
    assert EARLIER_QUOTE in _clean(turn["text"])
    return ThemeQuote(
        session_id="ts3010b", session_title="Functional design", session_date=date(2024, 3, 3),
        speaker=turn["speaker"], text=EARLIER_QUOTE, start=312.4, end=330.0,
    )


def _link(shared_eval: Path, seen: int, so_far: int) -> ThemeRecurrence:
    return ThemeRecurrence(
        theme_id=7, program="Product design circle", label="batteries, bleep, *buttons*",
        sessions_seen=seen, sessions_so_far=so_far, first_seen=date(2024, 2, 12),
        earlier=_earlier_moment(shared_eval) if seen > 1 else None,
    )


def _memo_with_links(meeting, links: list[ThemeRecurrence], generator=None, settings=None):
    """The TS3010a memo with its features theme (topic 1) linked to `links`."""
    transcript, insights = meeting
    return build_memo(
        title="Kick-off", transcript=transcript, insights=insights, generator=generator,
        program="Product design circle", program_themes={1: links}, settings=settings,
    )


def test_a_recurring_theme_says_how_often_it_came_up_and_picks_up_what_was_said(meeting, shared_eval):
    memo = _memo_with_links(meeting, [_link(shared_eval, seen=3, so_far=5)])
    features = next(theme for theme in memo.themes if theme.topic_index == 1)
    experiences = next(theme for theme in memo.themes if theme.topic_index == 0)

    assert features.follow_up_questions[0] == (
        "In “Functional design” on 3 March 2024, Industrial Designer said “Uh but we can also use it uh a bleep "
        "like something, when the battery's empty, then there…”: what has changed in features of the new "
        "remote control since then?"
    )
    markdown = render_memo(memo, "md")
    assert (  # a paragraph of its own, under the theme's time span
        "to [14:56]*\n\n**Recurring:** [batteries, bleep, \\*buttons\\*]"
        "(/themes?program=Product%20design%20circle#theme-7) "
        "came up in 3 of the 5 sessions of Product design circle so far, first on 12 February 2024. "
        "Last time, in [Functional design](/sessions/ts3010b?t=312) on 3 March 2024, Industrial Designer said "
        f"“{EARLIER_QUOTE}”"
    ) in markdown
    assert markdown.count("**Recurring:**") == 1 and "**New:**" not in markdown
    assert not experiences.program_themes
    html = render_memo(memo, "html")
    assert (
        '<p class="recurrence"><strong>Recurring:</strong> '
        '<a href="/themes?program=Product%20design%20circle#theme-7">batteries, bleep, *buttons*</a> came up in 3 of'
    ) in html
    assert '<a href="/sessions/ts3010b?t=312">Functional design</a> on 3 March 2024' in html


@pytest.mark.parametrize(
    "seen, so_far, said",
    [
        (2, 2, "came up in both sessions of Product design circle so far"),
        (4, 4, "came up in all 4 sessions of Product design circle so far"),
        (1, 4, "**New:** the first session of Product design circle where this came up."),
        (1, 1, None),  # the program's first session: everything is new, so nothing is said
    ],
)
def test_how_a_theme_is_linked_depends_on_the_sessions_so_far(meeting, shared_eval, seen, so_far, said):
    markdown = render_memo(_memo_with_links(meeting, [_link(shared_eval, seen, so_far)]), "md")
    if said is None:
        assert "**Recurring:**" not in markdown and "**New:**" not in markdown
    else:
        assert said in markdown


# --- Exported memos link into the user's web app ----------------------------------------------


def _stored(settings, memo: MemoDraft, *markdowns: str) -> str:
    """A session holding `memo` as its draft and `markdowns` as its saved versions; its id."""
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    with session_scope(settings) as db:
        repo.create_session(
            db, session_id="ts3010a", title=memo.title, source_kind="transcript",
            original_filename="ts3010a.vtt", stored_path="media/x", program=memo.program,
        )
        repo.save_output(db, "ts3010a", "memo", memo)
        for markdown in markdowns:
            repo.add_memo_version(db, "ts3010a", markdown)
    return "ts3010a"


# Where a program serves its web app (INSIGHTCAP_APP_URL): exported memos link there.
APP_URL = "https://circle.example.org"


def test_an_exported_memo_links_each_time_to_the_session_page_at_that_second(settings, meeting, shared_eval):
    settings = settings.model_copy(update={"app_url": APP_URL})
    memo = _memo_with_links(meeting, [_link(shared_eval, seen=3, so_far=5)])
    session_id = _stored(settings, memo, render_memo(memo, "md"))
    page = export_memo(settings, session_id, "html")

    for theme in memo.themes:
        for insight in [*theme.ideas, *theme.strategies, *theme.reactions]:
            assert (
                f'<a class="t" href="{APP_URL}/sessions/ts3010a?t={int(insight.start)}">'
                f"[{format_timestamp(insight.start)}]</a>"
            ) in page
    assert f'<a href="{APP_URL}/sessions/ts3010b?t=312">Functional design</a>' in page
    assert f'<a href="{APP_URL}/themes?program=Product%20design%20circle#theme-7">' in page
    assert 'href="/' not in page and 'href="#' not in page
    markdown = export_memo(settings, session_id, "md")
    assert f"[Functional design]({APP_URL}/sessions/ts3010b?t=312)" in markdown
    assert f"({APP_URL}/themes?program=Product%20design%20circle#theme-7)" in markdown
    assert "](/" not in markdown


def test_a_memo_edited_in_the_app_keeps_relative_links_there_and_exports_them_absolute(settings, meeting, shared_eval):
    settings = settings.model_copy(update={"app_url": APP_URL})
    memo = _memo_with_links(meeting, [_link(shared_eval, seen=3, so_far=5)])
    edited = render_memo(memo, "md").replace("# Kick-off", "# Kick-off, edited", 1)
    session_id = _stored(settings, memo, edited)
    assert "[Functional design](/sessions/ts3010b?t=312)" in edited  # what the app's memo page shows

    assert f"[Functional design]({APP_URL}/sessions/ts3010b?t=312)" in export_memo(settings, session_id, "md")
    page = export_memo(settings, session_id, "html")  # converted from the facilitator's Markdown
    assert f'<a href="{APP_URL}/sessions/ts3010b?t=312">Functional design</a>' in page
    assert 'href="/' not in page


def test_an_edited_memo_exports_every_time_linked_as_the_generated_one_does(settings, meeting, shared_eval):
    settings = settings.model_copy(update={"app_url": APP_URL})
    memo = _memo_with_links(meeting, [_link(shared_eval, seen=3, so_far=5)])
    generated = absolute_links(render_memo(memo, "html", session_id="ts3010a"), "html", APP_URL)
    edited = render_memo(memo, "md").replace("# Kick-off", "# Kick-off, edited", 1)
    edited += "\nAgreed at \\[1:00:07\\] (escaped), see https://example.org/guide.\n\n<script>alert(1)</script>\n"
    page = export_memo(settings, _stored(settings, memo, edited), "html")

    time_links = set(re.findall(r'<a class="t" href="[^"]+">\[[\d:]+\]</a>', generated))
    assert time_links and time_links <= set(re.findall(r'<a class="t" href="[^"]+">\[[\d:]+\]</a>', page))
    assert f'<a class="t" href="{APP_URL}/sessions/ts3010a?t=3607">[1:00:07]</a>' in page
    assert '<a href="https://example.org/guide">https://example.org/guide</a>.' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "fmt, text, expected",
    [
        ("md", "[x](/sessions/a?t=5)", "[x](https://ic.example.org/sessions/a?t=5)"),
        ("md", "“see \\[x\\](/etc)” — Ann", "“see \\[x\\](/etc)” — Ann"),  # a quote's escaped text
        ("md", "[x](//example.org/a)", "[x](//example.org/a)"),
        ("html", '<a href="/themes?program=P">P</a>', '<a href="https://ic.example.org/themes?program=P">P</a>'),
        ("html", '<a href="https://example.org/">x</a>', '<a href="https://example.org/">x</a>'),
    ],
)
def test_only_links_from_the_apps_root_are_made_absolute(fmt, text, expected):
    assert absolute_links(text, fmt, "https://ic.example.org/") == expected


def test_a_memo_without_themes_says_so_once_and_names_its_commitments(meeting):
    """A topic holding only a commitment is no theme: the commitment has its own section."""
    transcript, insights = meeting
    commitments_only = insights.model_copy(
        update={"insights": [i for i in insights.insights if i.section == Section.ACTION_ITEM]}
    )
    memo = build_memo(title="Wrap-up", transcript=transcript, insights=commitments_only, generator=None)
    assert memo.themes == [] and len(memo.commitments) == 1
    assert "and agreed on 1 commitment (listed below); no themes with clear insights were found." in memo.background
    markdown, page = render_memo(memo, "md"), render_memo(memo, "html")
    assert "Key themes" not in markdown and "Key themes" not in page
    assert "## Commitments\n\n- **Project Manager**: Send the next instructions by email" in markdown


class _ScriptedGenerator:
    """A stand-in generator for wiring tests: always gives the same reply and keeps the prompts."""

    name = "scripted"
    label = "a scripted text model"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def chat(self, system: str, user: str, max_tokens: int = 96, temperature: float = 0.2) -> str:
        self.prompts.append(user)
        return self.reply


def test_the_generator_is_shown_what_was_said_in_the_earlier_session(settings, meeting, shared_eval):
    reply = "How has the idea of a bleep when the battery is empty changed since the functional design session?"
    generator = _ScriptedGenerator(reply)
    memo = _memo_with_links(meeting, [_link(shared_eval, seen=3, so_far=5)], generator, settings)
    features = next(theme for theme in memo.themes if theme.topic_index == 1)

    recurring_prompts = [prompt for prompt in generator.prompts if "The theme came up before" in prompt]
    assert recurring_prompts and all(
        "in the session “Functional design” on 3 March 2024, where Industrial Designer said: “Uh but we can also "
        "use it uh a bleep" in prompt
        for prompt in recurring_prompts
    )
    # Validated like any generated question, then the template that quotes the earlier session.
    assert features.follow_up_questions[0] == reply
    assert features.follow_up_questions[1].startswith("In “Functional design” on 3 March 2024")
    evidence = ThemeEvidence.of(features, ["batteries"])
    instructions = prompt_instructions(evidence.question_prompt)
    assert "{" not in instructions and "battery's empty" not in instructions
    assert question_problem(reply, evidence=evidence.text, instructions=instructions, nlp=load_nlp(settings)) is None


PROGRAM_SESSIONS = [  # (QMSum meeting, session id, program, date), in the order they are processed
    ("ES2006a", "es2006a", "Remote design", date(2024, 1, 10)),
    ("ES2006b", "es2006b", "Remote design", date(2024, 1, 17)),
    # The same talk as ES2006b in another program, between the two: it must count for neither.
    ("ES2006b", "other-es2006b", "Other circle", date(2024, 1, 20)),
    ("ES2006c", "es2006c", "Remote design", date(2024, 1, 24)),
]
PROGRAM_TURNS = 60


@pytest.fixture(scope="module")
def program_memos(tmp_path_factory: pytest.TempPathFactory):
    """Three sessions of a remote-control design program (the first 60 turns of ES2006a–c), run
    through the real structure → embed → memo stages with the deterministic generator; each memo
    drafted after all sessions were embedded, so a later session could leak into an older memo."""
    from test_search import meeting_transcript

    from insightcap.config import Settings
    from insightcap.jobs.stages import STAGES, StageContext
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    shared_eval = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
    if not shared_eval.is_dir():
        pytest.skip("the shared eval data is not beside this checkout")
    settings = Settings(data_dir=tmp_path_factory.mktemp("program") / "data", generator="none")
    for meeting_id, session_id, program, day in PROGRAM_SESSIONS:
        with session_scope(settings) as db:
            repo.create_session(
                db, session_id=session_id, title=meeting_id, source_kind="transcript",
                original_filename=f"{meeting_id}.vtt", stored_path="media/x", program=program, session_date=day,
            )
            repo.save_output(db, session_id, "transcript", meeting_transcript(shared_eval, meeting_id, PROGRAM_TURNS))
        for stage in ("structure", "embed"):
            STAGES[stage].run(StageContext(settings, session_id, lambda fraction, message: None))
    memos = {}
    for _, session_id, _, _ in PROGRAM_SESSIONS:
        STAGES["memo"].run(StageContext(settings, session_id, lambda fraction, message: None))
        with session_scope(settings) as db:
            draft, stored = repo.load_output(db, session_id, "memo", MemoDraft), repo.latest_memo(db, session_id)
            memos[session_id] = (draft, stored.markdown)
    return settings, memos


@pytest.mark.slow
def test_the_memo_of_the_third_session_says_which_themes_came_up_before(program_memos):
    from insightcap.themes.program import list_program_themes

    settings, memos = program_memos
    draft, markdown = memos["es2006c"]
    members = {theme.id: set(theme.session_ids) for theme in list_program_themes(settings, "Remote design")}
    links = [link for theme in draft.themes for link in theme.recurring]

    assert links, "no recurring theme: does the memo stage pass session_theme_links to build_memo?"
    for link in links:
        assert link.sessions_so_far == 3 and link.program == "Remote design"
        assert link.sessions_seen == len(members[link.theme_id]) >= 2
        assert link.first_seen == (date(2024, 1, 10) if "es2006a" in members[link.theme_id] else date(2024, 1, 17))
        # Last time: the latest earlier session the theme came up in, never the other program's copy.
        assert link.earlier.session_id == ("es2006b" if "es2006b" in members[link.theme_id] else "es2006a")
    link = draft.themes[0].recurring[0] if draft.themes[0].recurring else links[0]
    counted = "all 3" if link.sessions_seen == 3 else f"{link.sessions_seen} of the 3"
    assert (
        f"**Recurring:** [{escape_markdown(link.label)}](/themes?program=Remote%20design#theme-{link.theme_id}) "
        f"came up in {counted} sessions of Remote design so far, first on {link.first_seen.day} January 2024. "
        f"Last time, in [{link.earlier.session_title}]"
        f"(/sessions/{link.earlier.session_id}?t={int(link.earlier.start)}) "
        f"on {link.earlier.session_date.day} January 2024, {link.earlier.speaker} said “"
    ) in markdown
    recurring_theme = next(theme for theme in draft.themes if theme.recurring)
    assert recurring_theme.follow_up_questions[0].startswith(
        f"In “{recurring_theme.recurring[0].earlier.session_title}” on "
        f"{recurring_theme.recurring[0].earlier.session_date.day} January 2024, "
    )


@pytest.mark.slow
def test_older_memos_count_only_the_sessions_up_to_them(program_memos):
    _, memos = program_memos
    first, first_markdown = memos["es2006a"]
    second, _ = memos["es2006b"]
    assert any(theme.program_themes for theme in first.themes) and any(theme.recurring for theme in second.themes)
    first_links = [link for theme in first.themes for link in theme.program_themes]
    assert all(link.sessions_so_far == 1 and not link.recurring for link in first_links)
    assert "**Recurring:**" not in first_markdown and "**New:**" not in first_markdown
    assert all(link.sessions_so_far == 2 for theme in second.themes for link in theme.program_themes)
    other, other_markdown = memos["other-es2006b"]
    assert all(link.sessions_so_far == 1 for theme in other.themes for link in theme.program_themes)
    assert "**Recurring:**" not in other_markdown


def _with_sentences(transcript: Transcript, insights: SessionInsights) -> SessionInsights:
    """The session with one sentence per spoken turn, each in the topic its time falls in: what the
    summary is picked from."""
    sentences = [
        Sentence(index=i, text=s.text, start=s.start, end=s.end, speaker=s.speaker, segment_index=i)
        for i, s in enumerate(transcript.segments)
        if len(s.text.split()) >= 3
    ]
    topics = [
        topic.model_copy(
            update={"sentence_indices": [s.index for s in sentences if topic.start <= s.start <= topic.end]}
        )
        for topic in insights.topics
    ]
    return insights.model_copy(update={"sentences": sentences, "topics": topics})


FEATURES_EVIDENCE = (
    "- Industrial Designer said: “Bust-free. That when you drop it, it won't break. Like some kind of rubber "
    "on it. Or hard plastic.”\n"
    "- Industrial Designer said: “When you push a button on the TV, then you hear some sort of bleep.”\n"
    "- Industrial Designer said: “It won't take a lot of batteries.”"
)


@pytest.mark.parametrize(
    "summary, problem",
    [
        (
            (
                "The group discussed making the remote out of rubber or hard plastic so it won't break when "
                "dropped. Industrial Designer also suggested a bleep from the TV to find it."
            ),
            None,
        ),
        ("I think we should use rubber on it so it won't break when you drop it, and hard plastic.", "first person"),
        (
            (
                "The group discussed innovative strategies for customer engagement and stakeholder alignment "
                "across the organisation's marketing funnel."
            ),
            "did not say",
        ),
        ("The group discussed rubber.", "words"),
        ("The group discussed rubber, hard plastic, hard plastic and a bleep from the TV.", "“hard plastic” twice"),
        (
            (
                "The group discussed rubber. They discussed plastic. They discussed the bleep. They discussed "
                "the batteries of the remote."
            ),
            "more than 3 sentences",
        ),
    ],
)
def test_summary_validation(settings, summary, problem):
    found = summary_problem(
        summary,
        evidence=FEATURES_EVIDENCE,
        instructions=prompt_instructions("summary_topic.txt"),
        nlp=load_nlp(settings),
    )
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_summary_without_generator_quotes_each_topic_with_speaker_and_time(meeting):
    transcript, insights = meeting
    memo = build_memo(
        title="Kick-off", transcript=transcript, insights=_with_sentences(transcript, insights), generator=None
    )
    overview, _, summary = memo.background.partition(". ")
    assert "2 themes" in overview
    # Verbatim sentences, each linked to its time, from the first and the second topic in that order.
    stamps = re.findall(r"\[(\d\d:\d\d)\]", summary)
    assert stamps and stamps == sorted(stamps)
    assert "Industrial Designer: " in summary or "Project Manager: " in summary


def test_a_generated_summary_is_used_when_it_passes_the_checks_and_replaced_when_not(settings, meeting):
    transcript, insights = meeting
    insights = _with_sentences(transcript, insights)
    # Grounded in what the features topic's excerpt shows the model (rubber, buttons, compatibility).
    grounded = (
        "The Industrial Designer wanted a remote control that does not break when dropped, made of rubber "
        "or hard plastic, with buttons that are not too small. The Project Manager said it must work with other things."
    )
    memo = build_memo(
        title="Kick-off",
        transcript=transcript,
        insights=insights,
        generator=_ScriptedGenerator(grounded),
        settings=settings,
    )
    # Each sentence of the account links to the moment that supports it, not to the excerpt's start.
    for claim in grounded.split(". "):
        assert re.search(re.escape(claim.rstrip(".")) + r"\.? \[\d\d:\d\d\]", memo.background), claim
    invented = "I think we all agreed that the quarterly revenue targets for the sales pipeline were met."
    generator = _ScriptedGenerator(invented)
    memo = build_memo(
        title="Kick-off", transcript=transcript, insights=insights, generator=generator, settings=settings
    )
    assert invented not in memo.background
    # The fallback is the deterministic summary, and the model was shown the topic as reported speech.
    deterministic = build_memo(title="Kick-off", transcript=transcript, insights=insights, generator=None)
    assert memo.background.split(". ", 1)[1] == deterministic.background.split(". ", 1)[1]
    assert any("- Industrial Designer said: “" in prompt for prompt in generator.prompts)


def test_each_sentence_of_a_generated_summary_links_to_the_moment_sharing_its_words(settings):
    excerpt = [
        Sentence(index=0, text="Okay, let's start with the budget.", start=60.0, end=62.0, speaker="Project Manager", segment_index=0),
        Sentence(index=1, text="The solar cell costs too much for our twelve euros.", start=95.0, end=99.0, speaker="Industrial Designer", segment_index=1),
        Sentence(index=2, text="Then a rubber case could replace the hard plastic.", start=130.0, end=134.0, speaker="Marketing", segment_index=2),
    ]
    texts = [sentence.text for sentence in excerpt]
    account = "The Industrial Designer found the solar cell too costly. Marketing proposed a rubber case instead."
    linked = linked_account(account, excerpt, texts, load_nlp(settings))
    assert linked == ("The Industrial Designer found the solar cell too costly. [01:35] "
                      "Marketing proposed a rubber case instead. [02:10]")


def test_background_evidence_is_the_most_salient_context_the_summary_does_not_already_quote():
    """The summary head, not the section head's confidence, picks the background's quotes."""
    sentences = [
        Sentence(
            index=n,
            text=f"Point {n} about the remote control's case.",
            start=10.0 * n,
            end=10.0 * n + 5,
            speaker="A",
            segment_index=n,
        )
        for n in range(6)
    ]
    salience = np.array([0.1, 0.9, 0.5, 0.8, 0.3, 0.7])
    candidates = SummaryCandidates(sentences, salience, np.eye(6, dtype=np.float32), [np.arange(6)])

    def insight(n: int, section: Section, confidence: float) -> Insight:
        said = sentences[n]
        return Insight(
            section=section,
            statement=said.text,
            quote=said.text,
            start=said.start,
            end=said.end,
            topic_index=0,
            confidence=confidence,
            sentence_indices=[n],
        )

    # Sentence 5 is salient but an idea, not context; 0 is the most confident context but the least salient.
    context = [insight(n, Section.CONTEXT, 0.5 if n else 0.99) for n in range(5)]
    session = SessionInsights(topics=[], insights=[*context, insight(5, Section.IDEA, 0.9)], sentences=sentences)
    picked = background_insights(session, candidates, summarised=[sentences[1]])

    by_salience = [3, 2, 4, 0][:BACKGROUND_INSIGHTS]  # 1 is already in the summary
    assert [i.sentence_indices[0] for i in picked] == sorted(by_salience)
    assert all(i.section == Section.CONTEXT for i in picked)
    # A quote whose sentences are too short to be scored ranks after every scored one, however confident.
    unscored = insight(0, Section.CONTEXT, 1.0).model_copy(update={"sentence_indices": [99]})
    session = SessionInsights(topics=[], insights=[unscored, *context[1:]], sentences=sentences)
    assert unscored not in background_insights(session, candidates, summarised=[])


@pytest.mark.slow
def test_a_program_theme_is_linked_from_one_memo_theme_only(program_memos):
    """A program theme touching two of a session's topics says "came up in …" once, under the
    memo theme holding most of its insights, and is named by noun phrases, not by verbs."""
    settings, memos = program_memos
    from insightcap.themes.program import list_program_themes

    for draft, markdown in memos.values():
        linked = [link.theme_id for theme in draft.themes for link in theme.program_themes]
        assert len(linked) == len(set(linked))
        paragraphs = [paragraph for paragraph in markdown.split("\n\n") if paragraph.startswith("**Recurring:**")]
        assert len(paragraphs) == len(set(paragraphs))
    assert any("**Recurring:**" in markdown for _, markdown in memos.values())
    labels = [theme.label for theme in list_program_themes(settings, "Remote design")]
    assert any("remote control" in label for label in labels), labels
    words = {word.strip(",") for label in labels for word in label.split()}
    assert not words & {"using", "let", "draw", "skip", "discuss", "come", "play", "yeah", "okay"}, labels
