"""Who spoke when: labels every transcript segment "Speaker 1…n" after transcription.

Whisper says what was said but not by whom, and a peer-learning memo must know whose idea it was.
The recording's speech (the transcript's segments, so silence and music are never embedded) is cut
into short overlapping windows; each window becomes a voice print with the GE2E speaker encoder
that ships inside the resemblyzer wheel; the prints are clustered with a distance threshold, and
clusters whose windows do not stand apart from each other are merged, so the number of speakers is
found rather than asked for (one speaker stays one speaker, however long they talk), unless the
user knows it (`SpeakerBounds`: an exact count or a range); and each word takes the majority voice
of the windows that hear it, so a Whisper segment that runs across a change of speaker is split
where the voice changes.

The recording is read as a stream of chunks and only the audio from the earliest window not yet
embedded is held, so memory does not grow with the length of the meeting.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel
from scipy.cluster.hierarchy import fcluster, linkage

from insightcap.config import Settings
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.transcript.schema import Segment, Transcript, Word
from insightcap.transcript.speakers import SpeakerBounds
from insightcap.weights import model_path

if TYPE_CHECKING:
    from resemblyzer import VoiceEncoder

SAMPLE_RATE = 16_000
# GE2E was trained on 1.6 s partial utterances: shorter windows tell voices apart less reliably,
# longer ones blur a change of speaker. Half-overlapping windows give every word two opinions.
WINDOW_SECONDS = 1.5
HOP_SECONDS = 0.75
# Speech shorter than this carries too little voice for a print; it takes its neighbours' speaker.
MIN_WINDOW_SECONDS = 0.5
BATCH_WINDOWS = 64
# Average-linkage clustering needs all pairwise distances: beyond this many windows (about an hour
# of speech) the clusters are found on an even sample and every window joins its nearest cluster.
MAX_CLUSTERED_WINDOWS = 3000
# Mean cosine distance at which two groups of windows stop being merged into one voice. Chosen with
# `python -m eval.diarization --tune`: real voices come out right anywhere from 0.25 to 0.5 (different
# people sit about 0.5 apart, one person's windows about 0.2-0.3), while the synthetic meetings, whose
# espeak voices are near-duplicates to the encoder, are diarized best at 0.25 (lowest pooled DER,
# speaker counts 3/3, 4/4 and 4 for 3).
DISTANCE_THRESHOLD = 0.25
# How far apart two clusters' windows must sit to be two voices, measured along the line between
# their centres in units of the windows' spread along it (Fisher's d'; see `_separations`). A cut
# through one voice's cloud leaves halves about 2.7 apart (a bell curve cut at its middle), 3 to 4.4
# for one espeak voice's fragments on a 2.5-hour synthetic meeting; different real people sit 16 or
# more apart. Some espeak voices are near-duplicates to the encoder (3.3 to 5 apart) and may be
# heard as one: the price of a speaker count that no longer grows with the length of the recording.
SEPARATION_LIMIT = 4.0
# A "speaker" heard in a single window is an outlier (a cough, a laugh, crosstalk), not a person.
MIN_SPEAKER_WINDOWS = 2
# A speaker heard in fewer windows than this (about six seconds of speech) is believed only if the
# voice is clearly different: different real people sit 0.45 or more apart, while a fragment split
# off one person's voice sits about 0.3 from the rest of it.
FEW_WINDOWS = 8
CLEARLY_DIFFERENT = 0.4
# After the voices are settled (and when the user's speaker count overrides them), windows are
# re-assigned to their nearest voice until none moves; this many rounds is far more than that takes.
SETTLE_PASSES = 50
# A change of speaker inside a segment is believed only if the new voice lasts this long.
MIN_TURN_SECONDS = 1.0


class SpeechWindow(BaseModel):
    start: float
    end: float


@lru_cache(maxsize=1)
def _voice_encoder(weights: Path) -> VoiceEncoder:
    from resemblyzer import (
        VoiceEncoder,  # imported late: librosa and torch are slow to import
    )

    encoder = VoiceEncoder("cpu", verbose=False, weights_fpath=weights)
    encoder.eval()
    return encoder


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Keep the encoder within the configured CPU budget without changing it for the rest of the process."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def speech_windows(transcript: Transcript, audio_seconds: float) -> list[SpeechWindow]:
    """Windows over the transcript's speech, in order of start; the last one of a segment ends with it."""
    windows: list[SpeechWindow] = []
    for segment in sorted(transcript.segments, key=lambda s: s.start):
        start, end = max(0.0, segment.start), min(segment.end, audio_seconds)
        length = end - start
        if length < MIN_WINDOW_SECONDS:
            continue
        if length <= WINDOW_SECONDS:
            windows.append(SpeechWindow(start=start, end=end))
            continue
        # Evenly spread so the last window ends with the speech and no two windows nearly coincide.
        count = int(np.ceil((length - WINDOW_SECONDS) / HOP_SECONDS)) + 1
        for window_start in np.linspace(start, end - WINDOW_SECONDS, count):
            windows.append(SpeechWindow(start=float(window_start), end=float(window_start) + WINDOW_SECONDS))
    # Overlapping segments (a caption file's crosstalk) would otherwise step back in time, and
    # window_clips relies on starts never doing so.
    windows.sort(key=lambda window: window.start)
    return windows


def window_clips(chunks: Iterable[np.ndarray], windows: list[SpeechWindow]) -> Iterator[np.ndarray]:
    """Each window's samples, in window order, cut from the recording read as consecutive chunks.

    Windows start in time order, so audio before the next window's start is never needed again and
    is dropped: about one chunk is held however long the recording is. A window that runs past the
    end of the audio gets what there is of it.
    """
    spans = [(int(window.start * SAMPLE_RATE), int(window.end * SAMPLE_RATE)) for window in windows]
    held, held_from, next_window = np.zeros(0, dtype=np.float32), 0, 0
    # A final None marks the end of the audio: the windows still waiting get what there is.
    for chunk in itertools.chain(chunks, [None]):
        if chunk is not None:
            # Nothing held (the usual case between windows, and a whole in-memory recording): no copy.
            held = np.concatenate([held, chunk]) if len(held) else chunk
        held_to = held_from + len(held)
        while next_window < len(spans) and (chunk is None or spans[next_window][1] <= held_to):
            start, end = spans[next_window]
            # A copy, so a batch of clips never keeps whole chunks alive.
            yield held[start - held_from : end - held_from].copy()
            next_window += 1
        keep_from = min(spans[next_window][0], held_to) if next_window < len(spans) else held_to
        held, held_from = held[keep_from - held_from :], keep_from


def _fixed_length(clip: np.ndarray) -> np.ndarray:
    """A full-window, level-normalised clip, so windows batch together and loudness is not a voice."""
    from resemblyzer.audio import normalize_volume

    # A short utterance is repeated to the full window rather than padded with silence, which the
    # encoder's last LSTM state would otherwise mostly describe.
    clip = np.resize(clip.astype(np.float32), int(WINDOW_SECONDS * SAMPLE_RATE))
    if np.any(clip):
        clip = normalize_volume(clip, -30, increase_only=True)
    return clip


def embed_windows(
    audio: np.ndarray | Iterable[np.ndarray],
    windows: list[SpeechWindow],
    settings: Settings,
    progress: ProgressCallback = ignore_progress,
) -> np.ndarray:
    """One unit-length 256-d voice print per window, computed in batches so memory stays flat.

    `audio` is the whole recording as one array, or the recording as consecutive chunks (iter_audio).
    """
    import torch
    from resemblyzer.audio import wav_to_mel_spectrogram

    encoder = _voice_encoder(model_path(settings.speaker_model, settings.model_cache_dir) / "pretrained.pt")
    chunks = [audio] if isinstance(audio, np.ndarray) else audio
    clips = window_clips(chunks, windows)
    prints = np.zeros((len(windows), 256), dtype=np.float32)
    for first in range(0, len(windows), BATCH_WINDOWS):
        batch = itertools.islice(clips, BATCH_WINDOWS)
        mels = np.stack([wav_to_mel_spectrogram(_fixed_length(clip)) for clip in batch])
        with torch.inference_mode():
            prints[first : first + len(mels)] = encoder(torch.from_numpy(mels)).numpy()
        progress((first + len(mels)) / len(windows), "Telling the speakers apart")
    # A silent window gives an all-zero ReLU output, normalised to NaN: it has no voice to compare.
    return np.nan_to_num(prints)


def _voiced(windows: list[SpeechWindow], prints: np.ndarray) -> tuple[list[SpeechWindow], np.ndarray]:
    voiced = np.linalg.norm(prints, axis=1) > 0
    return [window for window, keep in zip(windows, voiced) if keep], prints[voiced]


def _nearest(prints: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return np.argmax(prints @ centroids.T, axis=1)


def _centroids(prints: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    sums = np.stack([prints[labels == label].sum(axis=0) for label in range(count)])
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9)


def cluster_voices(
    prints: np.ndarray, bounds: SpeakerBounds = SpeakerBounds(), threshold: float = DISTANCE_THRESHOLD
) -> np.ndarray:
    """A speaker number (0..k-1) per voice print; k is found from the voices and kept within `bounds`.

    Two steps, because neither alone gives a count that stays put as the recording grows. The
    average-linkage cut at `threshold` finds tight groups of windows, but one voice is not one tight
    group: its windows drift with what is said and how, and the more of them there are, the more
    sub-groups lie further apart than the threshold (a 2.5-hour meeting of 4 voices cut into 19).
    So the groups are then merged while the two least separable ones do not stand apart
    (`SEPARATION_LIMIT`): a measure of how much two clouds of windows overlap, which does not grow
    with the number of windows in them.
    """
    if len(prints) < 2:
        return np.zeros(len(prints), dtype=int)
    sample = prints[np.linspace(0, len(prints) - 1, min(len(prints), MAX_CLUSTERED_WINDOWS)).astype(int)]
    tree = linkage(sample, method="average", metric="cosine")
    cut = fcluster(tree, t=threshold, criterion="distance") - 1
    kept = np.unique(_absorb_small_clusters(sample, cut))
    if bounds.clamp(len(kept)) > len(kept):
        cut, kept = _cut_into(tree, bounds.clamp(len(kept)))
    # Every window (sampled or not) joins its nearest speaker; two passes let the centroids settle.
    labels = _join_nearest(prints, _centroids(sample, cut, cut.max() + 1)[kept], passes=2)
    labels = _merge_inseparable(
        prints, labels, fewest=bounds.min_speakers or 1, most=bounds.max_speakers or len(prints)
    )
    return _join_nearest(prints, _centroids(prints, labels, labels.max() + 1), passes=SETTLE_PASSES)


def _join_nearest(prints: np.ndarray, centroids: np.ndarray, passes: int) -> np.ndarray:
    """Each print's nearest voice, then up to `passes` rounds of re-centring (k-means), fewer if settled."""
    labels = _nearest(prints, centroids)
    for _ in range(passes):
        moved = _nearest(prints, _centroids(prints, labels, len(centroids)))
        if np.array_equal(moved, labels):
            break
        labels = moved
    return labels


def _separations(prints: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """How well every two voices stand apart: the distance between their mean prints over the
    spread of their windows along the line joining the means (Fisher's discriminant ratio, d').

    This is an effect size, not a test: more windows make it more exact, not larger, so it tells
    one voice's drifting sub-groups (which overlap along that line) from two voices (which do not)
    the same way in a five-minute call and a three-hour meeting. A distance between centroids
    alone cannot, because how far apart two voices must be depends on how widely each one varies.
    """
    count = labels.max() + 1
    sizes = np.bincount(labels, minlength=count)
    means = np.stack([prints[labels == label].mean(axis=0) for label in range(count)])
    scatters = [
        (prints[labels == label] - means[label]).T @ (prints[labels == label] - means[label])
        for label in range(count)
    ]
    separation = np.full((count, count), np.inf)
    for a, b in itertools.combinations(range(count), 2):
        gap = means[a] - means[b]
        spread = gap @ (scatters[a] + scatters[b]) @ gap / (sizes[a] + sizes[b])
        separation[a, b] = separation[b, a] = (gap @ gap) / np.sqrt(max(spread, 1e-12))
    return separation


def _merge_inseparable(prints: np.ndarray, labels: np.ndarray, fewest: int, most: int) -> np.ndarray:
    """The two least separable voices become one, again, while they sit closer than
    SEPARATION_LIMIT (but not below `fewest` voices) or more than `most` voices remain.

    After each merge the windows re-join their nearest voice, so a sub-group that was split off
    one voice along the old boundary can go back to it before the next pair is judged.
    """
    labels = np.unique(labels, return_inverse=True)[1]
    while labels.max() + 1 > fewest:
        separation = _separations(prints, labels)
        kept, merged = np.unravel_index(np.argmin(separation), separation.shape)
        if separation[kept, merged] >= SEPARATION_LIMIT and labels.max() + 1 <= most:
            break
        labels = np.unique(np.where(labels == merged, kept, labels), return_inverse=True)[1]
        labels = _join_nearest(prints, _centroids(prints, labels, labels.max() + 1), passes=2)
        labels = np.unique(labels, return_inverse=True)[1]
    return labels


def _cut_into(tree: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The tree's clusters and the `count` of them taken as the speakers, when the user knows better
    than the threshold.

    The tree is cut ever finer until `count` clusters each heard in MIN_SPEAKER_WINDOWS or more
    appear (a finer cut first splits off single odd windows, which are not people), and the largest
    `count` are kept; the crumbs left over join their nearest speaker. A recording with fewer voiced
    windows than that gets as many speakers as it can.
    """
    for clusters in range(count, len(tree) + 2):
        cut = fcluster(tree, t=clusters, criterion="maxclust") - 1
        sizes = np.bincount(cut)
        if np.count_nonzero(sizes >= MIN_SPEAKER_WINDOWS) >= count:
            break
    return cut, np.sort(np.argsort(-sizes, kind="stable")[:count])


def _absorb_small_clusters(prints: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Merges, smallest first, each cluster with too little evidence into its nearest neighbour."""
    labels = labels.copy()
    while True:
        ids, counts = np.unique(labels, return_counts=True)
        if len(ids) < 2:
            return labels
        means = np.stack([prints[labels == label].mean(axis=0) for label in ids])
        # For unit vectors, 1 - mean_a . mean_b is the mean pairwise cosine distance (average linkage).
        distance = 1.0 - means @ means.T
        np.fill_diagonal(distance, np.inf)
        weak = [
            index
            for index in np.argsort(counts, kind="stable")
            if counts[index] < MIN_SPEAKER_WINDOWS
            or (counts[index] < FEW_WINDOWS and distance[index].min() < CLEARLY_DIFFERENT)
        ]
        if not weak:
            return labels
        labels[labels == ids[weak[0]]] = ids[int(np.argmin(distance[weak[0]]))]


def _smooth(labels: np.ndarray, windows: list[SpeechWindow]) -> np.ndarray:
    """A lone window that disagrees with both neighbours in continuous speech is a misheard voice."""
    smoothed = labels.copy()
    for index in range(1, len(labels) - 1):
        before, after = labels[index - 1], labels[index + 1]
        continuous = windows[index + 1].start - windows[index - 1].end < HOP_SECONDS
        if before == after != labels[index] and continuous:
            smoothed[index] = before
    return smoothed


class _VoiceTimeline:
    """Answers "whose voice is heard from start to end" from the labelled windows."""

    def __init__(self, windows: list[SpeechWindow], labels: np.ndarray) -> None:
        self.starts = np.array([w.start for w in windows])
        self.ends = np.array([w.end for w in windows])
        self.labels = labels
        self.count = int(labels.max()) + 1 if len(labels) else 1

    def speaker(self, start: float, end: float) -> int:
        if not len(self.labels):
            return 0
        overlap = np.minimum(self.ends, end) - np.maximum(self.starts, start)
        if np.any(overlap > 0):
            return int(
                np.argmax(np.bincount(self.labels, weights=np.clip(overlap, 0, None), minlength=self.count))
            )
        centres = (self.starts + self.ends) / 2
        return int(self.labels[np.argmin(np.abs(centres - (start + end) / 2))])


def _word_runs(words: list[Word], speakers: list[int]) -> list[tuple[int, list[Word]]]:
    """Consecutive words by one speaker; a run shorter than MIN_TURN_SECONDS joins its neighbour."""
    runs: list[tuple[int, list[Word]]] = []
    for word, speaker in zip(words, speakers):
        if runs and runs[-1][0] == speaker:
            runs[-1][1].append(word)
        else:
            runs.append((speaker, [word]))
    merged: list[tuple[int, list[Word]]] = []
    for speaker, run in runs:
        too_short = run[-1].end - run[0].start < MIN_TURN_SECONDS
        if merged and (too_short or merged[-1][0] == speaker):
            merged[-1][1].extend(run)
        else:
            merged.append((speaker, run))
    # The first run has no predecessor to join; if it is too short it joins the next run instead.
    if len(merged) > 1 and merged[0][1][-1].end - merged[0][1][0].start < MIN_TURN_SECONDS:
        merged[1] = (merged[1][0], merged[0][1] + merged[1][1])
        merged.pop(0)
    return merged


def _split_segment(segment: Segment, timeline: _VoiceTimeline) -> list[tuple[int, Segment]]:
    """The segment with its speaker, or its pieces when the voice changes between its words."""
    if not segment.words:
        return [(timeline.speaker(segment.start, segment.end), segment)]
    speakers = [timeline.speaker(word.start, word.end) for word in segment.words]
    runs = _word_runs(segment.words, speakers)
    if len(runs) == 1:
        return [(runs[0][0], segment)]
    pieces = []
    for index, (speaker, words) in enumerate(runs):
        start = segment.start if index == 0 else words[0].start
        end = segment.end if index == len(runs) - 1 else words[-1].end
        # The runtimes store words stripped of Whisper's leading space, so the spaces are put back.
        text = " ".join(word.text.strip() for word in words)
        pieces.append((speaker, Segment(start=start, end=end, text=text, words=words)))
    return pieces


def label_segments(transcript: Transcript, windows: list[SpeechWindow], labels: np.ndarray) -> Transcript:
    """A copy of the transcript whose segments carry "Speaker n", numbered by first appearance."""
    timeline = _VoiceTimeline(windows, labels)
    pieces = [piece for segment in transcript.segments for piece in _split_segment(segment, timeline)]
    names: dict[int, str] = {}
    segments = []
    for speaker, segment in pieces:
        name = names.setdefault(speaker, f"Speaker {len(names) + 1}")
        segments.append(segment.model_copy(update={"speaker": name}))
    return transcript.model_copy(update={"segments": segments})


def diarize(
    audio: np.ndarray | Iterable[np.ndarray],
    transcript: Transcript,
    settings: Settings,
    bounds: SpeakerBounds = SpeakerBounds(),
    progress: ProgressCallback = ignore_progress,
) -> Transcript:
    """The transcript with every segment's speaker set, split where the speaker changes mid-segment.

    `audio` is the recording as 16 kHz mono float32: one array (decode_audio) or, to keep memory
    flat on long recordings, consecutive chunks of it (iter_audio), whose length is then taken from
    the transcript. `bounds` is what the user knows about the number of speakers; without it the
    number is found from the voices. Speaker labels already on the transcript are replaced.
    """
    seconds = len(audio) / SAMPLE_RATE if isinstance(audio, np.ndarray) else transcript.duration or math.inf
    windows = speech_windows(transcript, seconds)
    with _torch_threads(settings.cpu_threads):
        prints = embed_windows(audio, windows, settings, lambda fraction, message: progress(0.95 * fraction, message))
    labelled = speakers_from_prints(transcript, windows, prints, bounds)
    progress(1.0, "Speakers labelled")
    return labelled


def speakers_from_prints(
    transcript: Transcript,
    windows: list[SpeechWindow],
    prints: np.ndarray,
    bounds: SpeakerBounds = SpeakerBounds(),
    threshold: float = DISTANCE_THRESHOLD,
) -> Transcript:
    """The labelling half of `diarize`, apart so the threshold can be tuned without re-embedding."""
    windows, prints = _voiced(windows, prints)
    labels = _smooth(cluster_voices(prints, bounds, threshold), windows)
    return label_segments(transcript, windows, labels)
