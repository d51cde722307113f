"""Drafts the debrief memo from a session's insights, in the shape facilitators write by hand:
background, key themes (context, ideas, strategies, reactions, resources, questions, follow-ups),
then resources, commitments, open questions and questions to open the next session.

Everything in the draft is either an insight (a statement with its verbatim quote, speaker and
time) or a question built from them, so every line of the memo can be traced to the recording.
This module groups the insights into themes and puts the memo together; the background's summary
comes from memo/summary.py, its opening sentence from memo/overview.py, and the follow-up questions
from memo/followups.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from insightcap.config import Settings, get_settings
from insightcap.generator.base import TextGenerator
from insightcap.insights.nlp import load_nlp
from insightcap.insights.schema import Insight, Section, SessionInsights, Topic
from insightcap.memo.followups import FollowupWriter, ThemeEvidence, follow_up_questions
from insightcap.memo.overview import background_text, language_note, session_duration
from insightcap.memo.schema import MemoDraft, MemoTheme
from insightcap.memo.summary import SummaryCandidates, background_picks, session_summary
from insightcap.memo.templated import next_session_questions
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.themes.embed import Embedder
from insightcap.themes.schema import ThemeRecurrence
from insightcap.transcript.schema import Transcript

DETERMINISTIC = "no generator (deterministic)"
# Share of the memo's progress bar for the follow-up questions; the summary takes the rest.
FOLLOWUP_PROGRESS = 0.6
# A question counts as answered when someone else contributes an insight (not another question) in
# the same topic within this many seconds of it; otherwise it is listed as open.
ANSWER_WINDOW_SECONDS = 90.0


def _words_said(topic: Topic, transcript: Transcript) -> int:
    """How much was said in the topic: words of the segments whose middle falls inside it."""
    return sum(
        len(segment.text.split())
        for segment in transcript.segments
        if topic.start <= (segment.start + segment.end) / 2 <= topic.end
    )


def _by_time(insights: Sequence[Insight]) -> list[Insight]:
    return sorted(insights, key=lambda insight: insight.start)


def _theme(
    topic: Topic, insights: list[Insight], background: Sequence[Insight], program_themes: list[ThemeRecurrence]
) -> MemoTheme:
    """The theme of `topic`, leaving out what the memo's background already quotes."""
    shown = {id(insight) for insight in background}
    quoted = {(insight.speaker, insight.start) for insight in background}

    def of(section: Section) -> list[Insight]:
        return _by_time([i for i in insights if i.section == section])

    return MemoTheme(
        topic_index=topic.index,
        title=topic.title,
        opening=[line for line in topic.opening_lines() if (line.speaker, line.start) not in quoted],
        context_insights=[i for i in of(Section.CONTEXT) if id(i) not in shown],
        ideas=of(Section.IDEA),
        strategies=of(Section.STRATEGY),
        reactions=of(Section.REACTION),
        resources=of(Section.RESOURCE),
        questions_raised=of(Section.QUESTION),
        start=topic.start,
        end=topic.end,
        program_themes=program_themes,
    )


def _has_theme_content(topic: Topic, insights: SessionInsights) -> bool:
    """A topic is a theme when it holds more than commitments, which the memo lists on their own."""
    return any(insight.section != Section.ACTION_ITEM for insight in insights.for_topic(topic.index))


def theme_topics(insights: SessionInsights, transcript: Transcript) -> list[Topic]:
    """The topics the memo presents as themes, the one most was said in first."""
    return sorted(
        (topic for topic in insights.topics if _has_theme_content(topic, insights)),
        key=lambda topic: -_words_said(topic, transcript),
    )


def _is_answered(question: Insight, insights: SessionInsights) -> bool:
    return any(
        other.section != Section.QUESTION
        and other.topic_index == question.topic_index
        and (other.speaker != question.speaker or question.speaker is None)
        and question.end <= other.start <= question.end + ANSWER_WINDOW_SECONDS
        for other in insights.insights
    )


def _provenance(writer: FollowupWriter | None) -> str:
    if writer is None:
        return DETERMINISTIC
    name = writer.generator.name
    if writer.failure:
        return f"{DETERMINISTIC}: the generator {name} failed ({writer.failure})"
    if not writer.accepted:
        return f"{DETERMINISTIC}: no text from {name} passed the checks"
    return name


def _drafted_with(writer: FollowupWriter | None) -> str:
    """The generator as the memo's footer names it, when _provenance credits it; else empty."""
    return writer.generator.label if writer and writer.accepted and not writer.failure else ""


def build_memo(
    *,
    title: str,
    transcript: Transcript,
    insights: SessionInsights,
    generator: TextGenerator | None,
    program: str | None = None,
    session_date: date | None = None,
    program_themes: Mapping[int, list[ThemeRecurrence]] | None = None,
    progress: ProgressCallback = ignore_progress,
    settings: Settings | None = None,
) -> MemoDraft:
    """The memo draft. `settings` names the NLP model (for the summary and to check generated text)
    and the embedding model (to check generated text). `program_themes` links each topic to the
    program's recurring themes (themes/program.py, session_theme_links), so the memo can say a theme
    came up before and its follow-up questions can pick up what was said then."""
    program_themes = program_themes or {}
    settings = settings or get_settings()
    progress(0.0, "Picking the sentences that summarise the session")
    candidates = SummaryCandidates.of(insights, Embedder(settings))
    extracts, background = background_picks(insights, candidates)
    topics = theme_topics(insights, transcript)
    themes = [
        _theme(topic, insights.for_topic(topic.index), background, program_themes.get(topic.index, []))
        for topic in topics
    ]

    open_questions = [
        q for q in _by_time(insights.in_section(Section.QUESTION)) if not _is_answered(q, insights)
    ]
    to_ask_again = candidates.worth_asking_again(open_questions)
    # One writer for the whole memo, the summary included: a generator that fails is asked once.
    writer = FollowupWriter(generator, settings) if generator else None
    asked: list[str] = []
    for number, (topic, theme) in enumerate(zip(topics, themes, strict=True)):
        progress(
            FOLLOWUP_PROGRESS * number / max(1, len(themes)),
            f"Writing follow-up questions for “{theme.title}”",
        )
        evidence = ThemeEvidence.of(theme, topic.keywords)
        if writer:
            theme.title = writer.title(evidence) or theme.title
            evidence = ThemeEvidence.of(theme, topic.keywords)
        theme.follow_up_questions = follow_up_questions(
            theme,
            evidence,
            writer,
            open_questions=to_ask_again,
            other_themes_questions=asked,
            worth=candidates.worth,
        )
        asked.extend(theme.follow_up_questions)

    commitments = _by_time(insights.in_section(Section.ACTION_ITEM))
    nlp = load_nlp(settings)
    summary = session_summary(
        candidates,
        extracts,
        writer,
        nlp,
        lambda done, message: progress(FOLLOWUP_PROGRESS + (1 - FOLLOWUP_PROGRESS) * done, message),
    )
    progress(1.0, "Memo drafted")
    return MemoDraft(
        title=title,
        program=program,
        session_date=session_date,
        duration_seconds=session_duration(transcript),
        language_note=language_note(transcript),
        participants=transcript.speakers,
        background=background_text(
            transcript, [theme.title for theme in themes], summary, commitments=len(commitments)
        ),
        background_insights=background,
        themes=themes,
        resources=_by_time(insights.in_section(Section.RESOURCE)),
        commitments=commitments,
        open_questions=open_questions,
        next_session_questions=next_session_questions(themes, commitments, to_ask_again),
        generated_with=_provenance(writer),
        drafted_with=_drafted_with(writer),
    )
