"""Importing caption and transcript files: each real layout, the errors users see, and fuzzing."""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from insightcap.transcript.importers import TranscriptFormatError, import_transcript
from insightcap.transcript.schema import Transcript

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
FIXTURE_FILES = sorted(FIXTURES.iterdir())


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _assert_valid(transcript: Transcript) -> None:
    """What every later stage relies on, whatever the file was."""
    assert transcript.source == "import"
    assert transcript.language is None
    assert transcript.segments
    starts = [segment.start for segment in transcript.segments]
    assert starts == sorted(starts)
    for segment in transcript.segments:
        assert math.isfinite(segment.start) and math.isfinite(segment.end)
        assert 0 <= segment.start <= segment.end <= transcript.duration
        assert segment.text and segment.text == " ".join(segment.text.split())
        assert segment.speaker is None or segment.speaker.strip() == segment.speaker != ""
    assert transcript.duration == max(segment.end for segment in transcript.segments)


# --- one real layout per fixture --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "produced_by", "speakers", "segment_count"),
    [
        # 22 cues, one empty, three pairs of one speaker's sentence split across two cues.
        ("teams.vtt", "vtt", ["Amara Okafor", "Diego Ramírez", "Priya Nair", "Tom Becker"], 18),
        # 17 cues, three split turns.
        ("zoom.vtt", "vtt", ["Hannah Lee", "Marcus Johnson", "Sofia Rossi", "Kwame Mensah"], 14),
        ("captions.srt", "srt", ["Grace Kim", "Omar Haddad", "Lucía Fernández"], 10),
        # 16 turns; Rachel twice speaks two turns in a row.
        ("zoom_transcript.txt", "zoom", ["Rachel Green", "Samuel Adeyemi", "Mei Chen", "Joseph Baptiste"], 14),
        ("teams_transcript.txt", "teams", ["Nadia Haddad", "Ben Carter", "Ana Souza", "Liam O'Brien"], 16),
        ("teams_transcript_cues.txt", "teams", ["Elif Yilmaz", "Chris Walker", "Fatima Zahra", "Gareth Jones"], 13),
    ],
)
def test_each_layout_gives_speakers_and_turns(
    name: str, produced_by: str, speakers: list[str], segment_count: int
) -> None:
    transcript = import_transcript(FIXTURES / name)

    _assert_valid(transcript)
    assert transcript.produced_by == produced_by
    assert transcript.speakers == speakers
    assert len(transcript.segments) == segment_count


def test_teams_vtt_voice_tags_merged_cues_and_entities() -> None:
    segments = import_transcript(FIXTURES / "teams.vtt").segments

    first = segments[0]
    assert (first.start, first.end, first.speaker) == (3.25, 12.92, "Amara Okafor")
    assert first.text == (
        "Okay, I think everyone's here, so let's get started with this week's peer circle. "
        "The plan is a quick round of updates and then we dig into Diego's question about onboarding."
    )
    # Tom's empty cue is dropped and his two cues after it become one turn.
    tom = segments[4]
    assert (tom.speaker, tom.start, tom.end) == ("Tom Becker", 38.62, 52.27)
    assert "tutors & mentors" in tom.text and "</v>" not in tom.text
    assert segments[-1].end == pytest.approx(164.9)


def test_zoom_vtt_name_prefixes_become_speakers() -> None:
    segments = import_transcript(FIXTURES / "zoom.vtt").segments

    assert segments[0].text.startswith("Hi everyone, welcome back")
    assert not any(segment.text.startswith(("Hannah Lee", "Marcus")) for segment in segments)
    # Only the leading name is a speaker; a colon later in the sentence stays in the text.
    research = next(segment for segment in segments if "research" in segment.text)
    assert research.speaker == "Hannah Lee"
    assert "feedback says: specific, timely" in research.text


def test_srt_lines_joined_and_tags_stripped() -> None:
    segments = import_transcript(FIXTURES / "captions.srt").segments

    assert segments[0].text == (
        "Welcome, everyone. This is the third session of the facilitator training. "
        "Today's topic is handling silence in a group discussion."
    )
    assert (segments[0].start, segments[0].end) == (1.5, 9.8)
    assert segments[2].text.startswith("Three seconds is nothing, though.")


def test_zoom_text_export_end_times_come_from_the_next_turn() -> None:
    segments = import_transcript(FIXTURES / "zoom_transcript.txt").segments

    first, second = segments[:2]
    assert (first.start, first.end) == (4.0, 18.0)
    assert first.text.endswith("We have three case discussions today, so let's keep updates short.")
    assert second.text.endswith("We screened two hundred and forty people and referred thirty-one.")
    last = segments[-1]
    # The last turn has no next start: 10 words at 2.5 words per second.
    assert last.text == "Thank you, Mei. Okay, let's move to the first case."
    assert (last.start, last.end) == (121.0, pytest.approx(121.0 + 10 / 2.5))


def test_teams_text_export_title_and_notices_are_not_speech() -> None:
    transcript = import_transcript(FIXTURES / "teams_transcript.txt")

    assert "transcription" not in transcript.text
    assert "Meeting Transcript" not in transcript.text and "March 2024" not in transcript.text
    assert (transcript.segments[0].start, transcript.segments[0].end) == (3.0, 19.0)
    assert transcript.segments[1].text.endswith("Attendance went up right after that.")
    assert transcript.segments[-1].start == 133.0
    # The file names its meeting and day: the session's title and date when the user gives none.
    assert (transcript.title, transcript.recorded_on) == ("Peer Learning Circle - Youth Workers", date(2024, 3, 12))


@pytest.mark.parametrize(
    ("first_lines", "title", "day"),
    [
        ("Weekly sync\nMarch 12, 2024, 3:02 PM\n1h 2m\n", "Weekly sync", date(2024, 3, 12)),
        ("Circle-20240401_090000-Meeting Transcript\nsome day\n", "Circle", date(2024, 4, 1)),  # from the stamp
        ("Ana Diaz started transcription\n", None, None),  # a notice is not a title
        ("", None, None),
    ],
)
def test_a_teams_export_names_its_meeting_and_day_when_it_has_them(tmp_path: Path, first_lines, title, day) -> None:
    export = tmp_path / "export.txt"
    export.write_text(f"{first_lines}\nAna Diaz   0:03\nHello everyone.\n\nBen Carter   0:09\nHi Ana.\n")
    transcript = import_transcript(export)
    assert (transcript.title, transcript.recorded_on) == (title, day)


def test_teams_cue_export_bare_millisecond_times_and_overlaps() -> None:
    segments = import_transcript(FIXTURES / "teams_transcript_cues.txt").segments

    # Teams writes milliseconds unpadded: 0:0:19.20 is 19.020 s.
    assert segments[2].start == pytest.approx(19.02)
    # Fatima's "Mm-hmm." overlaps Gareth's turn and sits between his two cues, which stay apart.
    assert [segment.speaker for segment in segments[4:7]] == ["Gareth Jones", "Fatima Zahra", "Gareth Jones"]


# --- variants of the layouts ------------------------------------------------------------------


def test_legacy_teams_vtt_times(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "meeting.vtt",
        "WEBVTT\n\n0:0:0.0 --> 0:0:2.90\n<v Jane Doe>Hello there.</v>\n\n"
        "0:0:3.520 --> 0:1:5.460\n<v John Roe>Hi, Jane.</v>\n",
    )
    transcript = import_transcript(path)
    assert [(s.start, s.end, s.speaker) for s in transcript.segments] == [
        (0.0, 2.09, "Jane Doe"),
        (3.52, 65.46, "John Roe"),
    ]


def test_zoom_one_line_per_turn(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "zoom.txt",
        "00:00:05 Jane Doe: Shall we start?\n00:00:09 John Roe: Yes, let's.\n[00:01:02] Jane Doe: Next item.\n",
    )
    transcript = import_transcript(path)
    assert transcript.produced_by == "zoom"
    assert [(s.start, s.end, s.speaker, s.text) for s in transcript.segments] == [
        (5.0, 9.0, "Jane Doe", "Shall we start?"),
        (9.0, 62.0, "John Roe", "Yes, let's."),
        (62.0, pytest.approx(62.8), "Jane Doe", "Next item."),
    ]


def test_zoom_captions_stamped_with_the_time_of_day_start_at_zero(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "meeting_saved_closed_captions.txt",
        "[Maria Lopez] 23:58:03\nWelcome, everyone.\n[Sam Okafor] 23:59:40\nThanks.\n"
        "[Maria Lopez] 00:01:10\nLet's begin.\n",
    )
    transcript = import_transcript(path)
    assert [(s.start, s.speaker) for s in transcript.segments] == [
        (0.0, "Maria Lopez"), (97.0, "Sam Okafor"), (187.0, "Maria Lopez")  # past midnight, still later
    ]
    assert transcript.duration < 200


def test_format_comes_from_content_not_extension(tmp_path: Path) -> None:
    path = _write(tmp_path, "transcript.txt", (FIXTURES / "zoom.vtt").read_text(encoding="utf-8"))
    assert import_transcript(path).produced_by == "vtt"


def test_merging_stops_before_a_segment_gets_too_long(tmp_path: Path) -> None:
    sentence = "This is one more short sentence in a long monologue."
    cues = "".join(
        f"{index + 1}\n00:00:{index * 2:02d},000 --> 00:00:{index * 2 + 2:02d},000\nJane: {sentence}\n\n"
        for index in range(25)
    )
    transcript = import_transcript(_write(tmp_path, "long.srt", cues))
    assert len(transcript.segments) > 1
    assert all(len(segment.text) <= 400 for segment in transcript.segments)
    assert transcript.text.count(sentence) == 25


def test_cues_out_of_order_come_out_sorted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "shuffled.srt",
        "2\n00:00:10,000 --> 00:00:12,000\nSecond.\n\n1\n00:00:01,000 --> 00:00:03,000\nFirst.\n",
    )
    assert [segment.text for segment in import_transcript(path).segments] == ["First.", "Second."]


def test_captions_without_names_have_no_speaker(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "plain.srt",
        "1\n00:00:01,000 --> 00:00:03,000\nNote: the room is booked.\n\n"
        "2\n00:00:05,000 --> 00:00:07,000\nWe start at ten.\n\n"
        "3\n00:00:09,000 --> 00:00:11,000\nThen we review the plan.\n",
    )
    transcript = import_transcript(path)
    assert transcript.speakers == []
    assert transcript.segments[0].text == "Note: the room is booked."


@pytest.mark.parametrize(
    ("encoded", "label"),
    [
        ("\ufeffWEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Lucía>¿Qué tal?\n".encode("utf-8"), "utf-8 bom"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Lucía>Qué tal, café?\n".encode("cp1252"), "cp1252"),
        ("WEBVTT\r\n\r\n00:00:01.000 --> 00:00:02.000\r\n<v Lucía>Qué tal?\r\n".encode("utf-16"), "utf-16"),
    ],
)
def test_text_encodings(tmp_path: Path, encoded: bytes, label: str) -> None:
    transcript = import_transcript(_write(tmp_path, "encoded.vtt", encoded))
    assert transcript.speakers == ["Lucía"], label
    assert "Qu" in transcript.segments[0].text


def test_a_file_with_unreadable_cues_is_refused_naming_the_first(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "partly.vtt",
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nOne.\n\n00:00:xx.000 --> 00:00:04.000\nTwo.\n\n"
        "00:00:05.000 --> 00:00:06.000\nThree.\n",
    )
    with pytest.raises(TranscriptFormatError) as raised:
        import_transcript(path)
    assert "1 of its 3 cue timings could not be read (the first at line 6: '00:00:xx.000 --> 00:00:04.000')" in str(
        raised.value
    )


# --- errors a user sees -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.vtt", b"", "is empty"),
        ("blank.srt", b" \n\n\t\n", "is empty"),
        ("image.vtt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not a text file"),
        ("meeting.docx", b"PK\x03\x04\x14\x00\x06\x00" + b"word/document.xml" * 4, "Word document"),
        ("minutes.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF"),
        ("call.m4a.txt", b"ID3\x04\x00\x00\x00\x00\x00#TSSE", "audio file"),
        ("notes.txt", b"Agenda\n- budget\n- volunteers\nWe agreed to meet again on Friday.\n", "does not look like"),
        ("header.vtt", b"WEBVTT\n\nNOTE exported without captions\n", "has no caption cues"),
        ("broken.vtt", b"WEBVTT\n\n00:00:aa.000 --> 00:00:02.000\nHello\n", "none of its 1 cue timings"),
        ("silent.srt", b"1\n00:00:01,000 --> 00:00:02,000\n<i> </i>\n", "has no caption cues with any text"),
        ("latin.srt", b"1\n00:00:01,000 --> 00:00:02,000\nCaf\x81\x8d\x8f\x90\n", "save it as UTF-8"),
    ],
)
def test_bad_files_raise_a_helpful_error(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    with pytest.raises(TranscriptFormatError) as raised:
        import_transcript(_write(tmp_path, name, content))
    message = str(raised.value)
    assert name in message
    assert reason in message
    assert "WebVTT" in message and "Zoom" in message and "Teams" in message


def test_missing_file_raises_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(TranscriptFormatError, match="gone.vtt could not be read"):
        import_transcript(tmp_path / "gone.vtt")


# --- fuzzing ----------------------------------------------------------------------------------

_FORMAT_PIECES = [
    "WEBVTT\n\n", "\n\n", "\n", "1\n", " --> ", "-->", "00:00:01.000", "0:0:2.90", "00:00:03,500",
    "99999:59:59.999", "<v Jane Doe>", "</v>", "<i>", "Jane Doe: ", "[Jane Doe] 00:01:02\n",
    "00:01:02 Jane: ", "Jane Doe   0:03\n", "Jane started transcription\n", "&amp;", "{\\an8}", "\x00", "\ufeff",
]
_caption_like_text = st.lists(
    st.one_of(st.sampled_from(_FORMAT_PIECES), st.text(max_size=12)), max_size=40
).map("".join)


@st.composite
def _mutated_fixture(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(FIXTURE_FILES)).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["delete", "insert", "duplicate", "truncate"]))
        if action == "delete":
            del data[position : position + draw(st.integers(1, 80))]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=20))
        elif action == "duplicate":
            data[position:position] = data[position : position + draw(st.integers(1, 200))]
        else:
            del data[position:]
    return bytes(data)


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content=st.one_of(
        st.binary(max_size=600),
        _caption_like_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
        _mutated_fixture(),
    )
)
def test_any_input_gives_a_transcript_or_a_format_error(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzzed.vtt"
    path.write_bytes(content)
    try:
        transcript = import_transcript(path)
    except TranscriptFormatError as error:
        assert "fuzzed.vtt" in str(error)
    else:
        _assert_valid(transcript)
        assert not re.search(r"[\x00-\x08\x0b-\x1f]", transcript.text)


# --- broken cues are refused, never clamped or glued onto another cue ------------------------


def _refusal(path: Path) -> str:
    """Why importing the file at `path` is refused."""
    with pytest.raises(TranscriptFormatError) as raised:
        import_transcript(path)
    return str(raised.value)


@pytest.mark.parametrize(
    ("name", "content", "timing"),
    [
        (
            "backwards.vtt",
            "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Priya>Welcome.\n\n"
            "00:00:05.000 --> 00:00:02.000\n<v Sam>Backwards.\n\n00:00:07.000 --> 00:00:09.000\n<v Priya>Next.\n",
            "00:00:05.000 --> 00:00:02.000",
        ),
        (
            "backwards.srt",
            "1\n00:00:01,000 --> 00:00:03,000\nPriya: Welcome.\n\n"
            "2\n00:00:05,000 --> 00:00:02,000\nSam: Backwards.\n\n3\n00:00:07,000 --> 00:00:09,000\nPriya: Next.\n",
            "00:00:05,000 --> 00:00:02,000",
        ),
    ],
)
def test_cue_ending_before_it_starts_is_refused(tmp_path: Path, name: str, content: str, timing: str) -> None:
    message = _refusal(_write(tmp_path, name, content))
    assert name in message
    assert f"the cue timed {timing} ('" in message and "Backwards." in message
    assert "ends before it starts; correct its end time" in message


def test_srt_block_with_garbled_timing_is_refused_by_number_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "garbled.srt",
        "1\n00:00:01,000 --> 00:00:03,000\nPriya: Welcome everyone.\n\n"
        "2\n00:00:0x,000 -> 00:00:06,000\nSam: broken line\n\n3\n00:00:07,000 --> 00:00:09,000\nSam: Thanks.\n",
    )
    with pytest.raises(TranscriptFormatError) as raised:
        import_transcript(path)
    assert "cue 2 at line 5 has no timing line it can read ('00:00:0x,000 -> 00:00:06,000')" in str(raised.value)
    assert "write it like 00:00:05,000 --> 00:00:08,000" in str(raised.value)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        # The index line is followed by a garbled timing and the blank line before it is missing.
        (
            "glued.srt",
            "1\n00:00:01,000 --> 00:00:03,000\nPriya: Welcome everyone.\n2\nbroken line\n\n"
            "3\n00:00:07,000 --> 00:00:09,000\nSam: Thanks.\n",
            "cue 2 has no timing line it can read, so it would become part of cue 1",
        ),
        # Blank line present, but no timing at all: `srt` would still read it as more of cue 1.
        (
            "untimed.srt",
            "1\n00:00:01,000 --> 00:00:03,000\nPriya: Welcome everyone.\n\n2\nbroken line\n\n"
            "3\n00:00:07,000 --> 00:00:09,000\nSam: Thanks.\n",
            "cue 2 has no timing line it can read, so it would become part of cue 1",
        ),
        (
            "glued.vtt",
            "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\n<v Priya>Welcome.\n2\nbroken line\n\n"
            "3\n00:00:07.000 --> 00:00:09.000\n<v Sam>Thanks.\n",
            "cue 2 has no timing line it can read, so it would become part of cue 1",
        ),
        # Teams' unnumbered cues: a timing line without the blank line before it.
        (
            "teams_cues.txt",
            "0:0:0.0 --> 0:0:4.520\nElif Yilmaz\nHello there.\n0:0:4.520 --> 0:0:9.100\nChris Walker\nHi.\n\n"
            "0:0:10.0 --> 0:0:12.0\nElif Yilmaz\nOkay.\n",
            "the timing line '0:0:4.520 --> 0:0:9.100' has no blank line before it",
        ),
    ],
)
def test_a_broken_block_is_refused_not_glued_onto_the_cue_before(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    message = _refusal(_write(tmp_path, name, content))
    assert name in message
    assert problem in message
    assert "give every cue a blank line before it and its own timing line" in message


def test_srt_missing_blank_line_before_a_whole_cue_still_reads_each_cue(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "tight.srt",
        "1\n00:00:01,000 --> 00:00:03,000\nPriya: Welcome everyone.\n2\n00:00:04,000 --> 00:00:06,000\nSam: Hello.\n\n"
        "3\n00:00:07,000 --> 00:00:09,000\nPriya: Let's start.\n",
    )
    segments = import_transcript(path).segments
    assert [(s.start, s.speaker, s.text) for s in segments] == [
        (1.0, "Priya", "Welcome everyone."),
        (4.0, "Sam", "Hello."),
        (7.0, "Priya", "Let's start."),
    ]


# --- a file without times is told which layouts work -----------------------------------------


def test_untimed_transcript_is_shown_the_accepted_layouts(tmp_path: Path) -> None:
    message = _refusal(_write(tmp_path, "notes.txt", "Priya: Welcome everyone.\nSam: Thanks for having us.\n"))

    assert "notes.txt does not look like a transcript" in message
    assert "Every turn needs its start time" in message
    for example in (
        "`WEBVTT`", "`00:00:05.000 --> 00:00:08.000`", "`00:00:05,000 --> 00:00:08,000`", "`0:0:5.0 --> 0:0:8.0`",
        "`Jane Doe   0:05`", "`00:00:05 Jane Doe: text`", "`[Jane Doe] 00:00:05`",
    ):
        assert example in message
    # The same lines with the start time the message asks for are read.
    fixed = _write(tmp_path, "fixed.txt", "00:00:00 Priya: Welcome everyone.\n00:00:04 Sam: Thanks for having us.\n")
    assert import_transcript(fixed).speakers == ["Priya", "Sam"]


def test_each_text_layout_in_the_refusal_is_one_the_importer_reads(tmp_path: Path) -> None:
    message = _refusal(_write(tmp_path, "notes.txt", "Agenda\nWe agreed to meet again on Friday.\n"))
    turn_lines = [line for line in re.findall(r"`([^`]+)`", message) if "-->" not in line and line != "WEBVTT"]

    assert len(turn_lines) == 3
    for line in turn_lines:
        transcript = import_transcript(_write(tmp_path, "example.txt", f"{line}\nWelcome everyone.\n"))
        assert transcript.speakers == ["Jane Doe"], line
        assert transcript.segments[0].start == 5.0, line
