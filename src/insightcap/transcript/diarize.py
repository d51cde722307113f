"""Who spoke when: labels every transcript segment "Speaker 1…n" after transcription.

Whisper says what was said but not by whom, and a peer-learning memo must know whose idea it was.
The recording's speech (the transcript's segments, so silence and music are never embedded) is cut
into short overlapping windows; each window becomes a voice print with the GE2E speaker encoder
that ships inside the resemblyzer wheel; the prints are clustered with a distance threshold, so the
number of speakers is found rather than asked for (one speaker stays one speaker); and each word
takes the majority voice of the windows that hear it, so a Whisper segment that runs across a
change of speaker is split where the voice changes.
"""

from __future__ import annotations

from collections.abc import Iterator
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
# A "speaker" heard in a single window is an outlier (a cough, a laugh, crosstalk), not a person.
MIN_SPEAKER_WINDOWS = 2
# A speaker heard in fewer windows than this (about six seconds of speech) is believed only if the
# voice is clearly different: different real people sit 0.45 or more apart, while a fragment split
# off one person's voice sits about 0.3 from the rest of it.
FEW_WINDOWS = 8
CLEARLY_DIFFERENT = 0.4
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
    """Windows over the transcript's speech, in time order; the last one of a segment ends with it."""
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
    return windows


def _window_audio(audio: np.ndarray, window: SpeechWindow) -> np.ndarray:
    """A fixed-length, level-normalised clip, so windows batch together and loudness is not a voice."""
    from resemblyzer.audio import normalize_volume

    clip = audio[int(window.start * SAMPLE_RATE) : int(window.end * SAMPLE_RATE)].astype(np.float32)
    # A short utterance is repeated to the full window rather than padded with silence, which the
    # encoder's last LSTM state would otherwise mostly describe.
    clip = np.resize(clip, int(WINDOW_SECONDS * SAMPLE_RATE))
    if np.any(clip):
        clip = normalize_volume(clip, -30, increase_only=True)
    return clip


def embed_windows(
    audio: np.ndarray, windows: list[SpeechWindow], settings: Settings, progress: ProgressCallback = ignore_progress
) -> np.ndarray:
    """One unit-length 256-d voice print per window, computed in batches so memory stays flat."""
    import torch
    from resemblyzer.audio import wav_to_mel_spectrogram

    encoder = _voice_encoder(model_path(settings.speaker_model, settings.model_cache_dir) / "pretrained.pt")
    prints = np.zeros((len(windows), 256), dtype=np.float32)
    for first in range(0, len(windows), BATCH_WINDOWS):
        batch = windows[first : first + BATCH_WINDOWS]
        mels = np.stack([wav_to_mel_spectrogram(_window_audio(audio, window)) for window in batch])
        with torch.inference_mode():
            prints[first : first + len(batch)] = encoder(torch.from_numpy(mels)).numpy()
        progress((first + len(batch)) / len(windows), "Telling the speakers apart")
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
    prints: np.ndarray, max_speakers: int | None = None, threshold: float = DISTANCE_THRESHOLD
) -> np.ndarray:
    """A speaker number (0..k-1) per voice print; k is found by the threshold, capped by `max_speakers`."""
    if len(prints) < 2:
        return np.zeros(len(prints), dtype=int)
    sample = np.linspace(0, len(prints) - 1, min(len(prints), MAX_CLUSTERED_WINDOWS)).astype(int)
    tree = linkage(prints[sample], method="average", metric="cosine")
    sample_labels = fcluster(tree, t=threshold, criterion="distance") - 1
    if max_speakers is not None and sample_labels.max() + 1 > max_speakers:
        sample_labels = fcluster(tree, t=max(1, max_speakers), criterion="maxclust") - 1
    kept = np.unique(_absorb_small_clusters(prints[sample], sample_labels))
    centroids = _centroids(prints[sample], sample_labels, sample_labels.max() + 1)[kept]
    # Every window (sampled or not) joins its nearest speaker; two passes let the centroids settle.
    labels = _nearest(prints, centroids)
    for _ in range(2):
        labels = _nearest(prints, _centroids(prints, labels, len(kept)))
    return labels


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
        text = "".join(word.text for word in words).strip()
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
    audio: np.ndarray,
    transcript: Transcript,
    settings: Settings,
    max_speakers: int | None = None,
    progress: ProgressCallback = ignore_progress,
) -> Transcript:
    """The transcript with every segment's speaker set, split where the speaker changes mid-segment.

    `audio` is the recording as 16 kHz mono float32 (what decode_audio returns). `max_speakers`,
    when the user knows it, caps the number of speakers found; one speaker is always allowed.
    Speaker labels already on the transcript are replaced.
    """
    if max_speakers is not None and max_speakers < 1:
        raise ValueError(f"max_speakers must be at least 1 (got {max_speakers}); leave it empty to detect.")
    windows = speech_windows(transcript, len(audio) / SAMPLE_RATE)
    with _torch_threads(settings.cpu_threads):
        prints = embed_windows(audio, windows, settings, lambda fraction, message: progress(0.95 * fraction, message))
    labelled = speakers_from_prints(transcript, windows, prints, max_speakers)
    progress(1.0, "Speakers labelled")
    return labelled


def speakers_from_prints(
    transcript: Transcript,
    windows: list[SpeechWindow],
    prints: np.ndarray,
    max_speakers: int | None = None,
    threshold: float = DISTANCE_THRESHOLD,
) -> Transcript:
    """The labelling half of `diarize`, apart so the threshold can be tuned without re-embedding."""
    windows, prints = _voiced(windows, prints)
    labels = _smooth(cluster_voices(prints, max_speakers, threshold), windows)
    return label_segments(transcript, windows, labels)
