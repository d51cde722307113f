"""The prose that opens the memo: the overview sentence (who met, for how long, which themes), the
warning for a recording not in English, and the background paragraph they lead.

Kept apart from the drafting (memo/draft.py) because it is plain wording from the transcript and
the themes' titles, and because eval/train_summary.py scores the summary inside exactly this
background text, choosing how many titles the overview names.
"""

from __future__ import annotations

from insightcap.transcript.schema import Transcript
from insightcap.wording import in_words

# The overview (the background's first sentence) counts the themes and names this many, the ones
# most was said in (None: every theme); "Key themes" lists them all right below. Titles are often
# keyword lists: naming two scored as well as naming all against human summaries, with better
# ROUGE-1/L, and reads shorter (cross-validation, models/summary_head/README.md).
OVERVIEW_TITLES: int | None = 2


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def overview(
    participants: list[str],
    duration: float,
    titles: list[str],
    shown: int | None = OVERVIEW_TITLES,
    *,
    commitments: int = 0,
) -> str:
    """The background's first sentence: who met, for how long, how many themes and the titles of the
    first `shown` of them (`titles` come biggest first; None names them all). The "Key themes" section
    right below lists every theme. With no theme, the memo has no "Key themes" section; a topic that
    held only `commitments` is not a theme (they have their own section), so the sentence names them
    rather than leave the reader wondering where what they agreed went."""
    who = f"{_counted(len(participants), 'participant')} ({', '.join(participants)})" if participants else "The group"
    length = _counted(round(duration / 60), "minute") if duration >= 60 else "less than a minute"
    if not titles:
        agreed = f" and agreed on {_counted(commitments, 'commitment')} (listed below)" if commitments else ""
        return f"{who} met for {length}{agreed}; no themes with clear insights were found."
    met = f"{who} met for {length} and discussed {_counted(len(titles), 'theme')}"
    named = titles if shown is None else titles[:shown]
    if not named:
        return f"{met}."
    listed = in_words(named)
    return f"{met}: {listed}." if len(named) == len(titles) else f"{met}, above all {listed}."


def language_note(transcript: Transcript) -> str:
    """A warning for a recording in another language than English: speech recognition handles many
    languages, but the section, commitment, topic and summary heads and spaCy were all made for
    English, so a French session gets themes such as "Més, offrir" without the reader knowing why."""
    code = (transcript.language or "").lower()
    if not code or code.split("-")[0] == "en":
        return ""
    return (
        f"The speech was recognised as language “{code}”, but insightcap finds insights, themes and "
        "questions with models made for English: check this memo against the recording with care."
    )


def session_duration(transcript: Transcript) -> float:
    """The recording's length, or where its last segment ends when the transcript does not say."""
    return transcript.duration or max((segment.end for segment in transcript.segments), default=0.0)


def background_text(
    transcript: Transcript,
    titles: list[str],
    summary: str,
    shown: int | None = OVERVIEW_TITLES,
    *,
    commitments: int = 0,
) -> str:
    """The memo's background paragraph: the overview of the session (its `titles` biggest first, and
    how many `commitments` when there is no theme), then the `summary`. eval/train_summary.py tunes
    the summary on exactly this text."""
    opening = overview(transcript.speakers, session_duration(transcript), titles, shown, commitments=commitments)
    return " ".join(filter(None, [opening, summary]))
