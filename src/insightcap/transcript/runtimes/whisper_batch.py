"""Whisper on a batch of speech chunks: a narrow beam first, the full beam only where it looks wrong.

A beam of two over a batch of chunks costs 70% of the configured beam of five, and on clear
speech it gives nearly the same words. Whisper's own quality signals pick out the chunks where it does
not (a low average log-probability, or text that compresses too well, the mark of a repetition loop):
only those are decoded again with the configured beam, and the likelier of the two texts is kept.
Word times come from the cross-attention alignment that word timestamps need anyway, so the decoder
is told not to produce timestamp tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from insightcap.transcript.runtimes.speech_chunks import SpeechChunk
from insightcap.transcript.schema import Word

if TYPE_CHECKING:
    import ctranslate2
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

# Whisper's published thresholds (openai/whisper transcribe.py).
COMPRESSION_RATIO_LIMIT = 2.4
LOGPROB_LIMIT = -1.0
NO_SPEECH_LIMIT = 0.6
# The first pass, and the text less confident than RETRY_LOGPROB that is decoded again with the full
# beam. Measured on two rendered meetings of eval/asr_bench.py (every chunk decoded every way, then
# each strategy's text scored; decoding CPU seconds per 60 min of audio in brackets), WER on the 60-min
# ICSI meeting / a 10-min parliamentary one:
#   greedy, full beam below -0.2 (the previous default)  0.171 / 0.089  (107)
#   greedy, full beam below -0.3                          0.176 / 0.096  (79)
#   beam 2, full beam below -0.4                          0.176 / 0.086  (62)
#   beam 2 only                                           0.178 / 0.086  (54)
#   beam 5 only                                           0.192 / 0.077  (76, with its repetition loops)
# Whisper's -1.0 never fires on these meetings, where clear chunks score -0.1 to -0.3. Prompting each
# chunk with the previous chunk's text, as sequential decoding does, left WER unchanged, and decoding
# with timestamp tokens made it worse (0.228).
FIRST_BEAM = 2
RETRY_LOGPROB = -0.4
# Nobody says more than ~5 words (~7 tokens) a second: a cap of 10 stops a repetition loop early
# instead of letting it fill the whole 448-token window while the rest of the batch waits.
_MAX_TOKENS_PER_SECOND = 10
# The encoder's attention holds batch x 8 heads x 1500 x 1500 floats: 72 MB a chunk, 288 MB for a
# batch of four (faster_whisper.py's BATCH_SIZE). Its cost is linear in the batch anyway, so it runs
# one chunk at a time (72 MB, twice over with two decode workers) and only the decoder, which does
# gain from batching, sees the whole batch.
_ENCODE_BATCH = 1
_PREPEND_PUNCTUATION = "\"'“¿([{-"
_APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class TimedWord:
    """A word at its place in the recording; `raw` keeps Whisper's spacing for joining words into text."""

    raw: str
    word: Word


@dataclass
class _Hypothesis:
    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float

    @property
    def looks_wrong(self) -> bool:
        return self.compression_ratio > COMPRESSION_RATIO_LIMIT or self.avg_logprob < RETRY_LOGPROB

    @property
    def is_silence(self) -> bool:
        return self.no_speech_prob > NO_SPEECH_LIMIT and self.avg_logprob < LOGPROB_LIMIT

    def quality(self) -> tuple[bool, float]:
        return (self.compression_ratio <= COMPRESSION_RATIO_LIMIT, self.avg_logprob)


def cut_repetition(tokens: list[int], min_repeats: int = 3) -> list[int]:
    """`tokens` without the loop at their end: a run of the same phrase said once instead of many times.

    A loop is a tail of at least `min_repeats` copies of one phrase (up to 50 tokens long), the last
    copy perhaps cut short by the length limit; the earliest such loop is cut to one copy, which is
    what was most likely said.
    """
    for start in range(len(tokens)):
        for period in range(1, min(50, (len(tokens) - start) // min_repeats) + 1):
            tail = tokens[start:]
            if tail[period:] == tail[:-period]:  # periodic: a loop, perhaps cut off mid-phrase
                return tokens[: start + period]
    return tokens


def _storage(rows: np.ndarray) -> ctranslate2.StorageView:
    import ctranslate2

    return ctranslate2.StorageView.from_array(np.ascontiguousarray(rows))


def _subset(storage: ctranslate2.StorageView, indices: list[int]) -> ctranslate2.StorageView:
    """Rows of a CTranslate2 encoder output, without encoding the audio again."""
    return _storage(np.asarray(storage)[indices])


class BatchDecoder:
    def __init__(self, model: WhisperModel, beam_size: int, language: str | None) -> None:
        self._model = model
        self._beam_size = beam_size
        self._language = language
        self._tokenizer: Tokenizer | None = None

    @property
    def language(self) -> str | None:
        return self._language

    @property
    def started(self) -> bool:
        """Whether the language is settled, after which batches may be decoded at the same time."""
        return self._tokenizer is not None

    def features(self, chunks: list[SpeechChunk]) -> np.ndarray:
        """Log-Mel spectrograms padded to Whisper's 30 s window; cheap enough for the producer thread."""
        from faster_whisper.audio import pad_or_trim

        extract = self._model.feature_extractor
        return np.stack([pad_or_trim(extract(chunk.audio)[..., :-1]) for chunk in chunks])

    def decode(self, chunks: list[SpeechChunk], features: np.ndarray) -> list[TimedWord]:
        """The words of all chunks, in recording order."""
        encoded = self._encode(features)
        tokenizer = self._tokenizer or self._start(encoded)
        limit = max(chunk.seconds for chunk in chunks) * _MAX_TOKENS_PER_SECOND
        first_beam = min(FIRST_BEAM, self._beam_size)
        hypotheses = self._generate(encoded, tokenizer, first_beam, limit)
        retry = [index for index, hypothesis in enumerate(hypotheses) if hypothesis.looks_wrong]
        if retry and self._beam_size > first_beam:
            retried = self._generate(_subset(encoded, retry), tokenizer, self._beam_size, limit)
            for index, hypothesis in zip(retry, retried):
                hypotheses[index] = max(hypotheses[index], hypothesis, key=_Hypothesis.quality)
        for hypothesis in hypotheses:
            if hypothesis.compression_ratio > COMPRESSION_RATIO_LIMIT:  # still looping after the retry
                hypothesis.tokens = cut_repetition(hypothesis.tokens)
        spoken = [
            index
            for index, hypothesis in enumerate(hypotheses)
            if not hypothesis.is_silence and any(token < tokenizer.eot for token in hypothesis.tokens)
        ]
        if not spoken:
            return []
        return self._timed_words(
            [chunks[index] for index in spoken],
            [hypotheses[index].tokens for index in spoken],
            encoded if len(spoken) == len(chunks) else _subset(encoded, spoken),
            tokenizer,
        )

    def _encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        parts = [
            np.asarray(self._model.encode(features[start : start + _ENCODE_BATCH]))
            for start in range(0, len(features), _ENCODE_BATCH)
        ]
        return _storage(np.concatenate(parts))

    def _start(self, encoded: ctranslate2.StorageView) -> Tokenizer:
        """The tokenizer, once the language is known: detected on the first chunk when not configured."""
        from faster_whisper.tokenizer import Tokenizer

        if self._language is None:  # the first 30 s of speech, as faster-whisper does
            ranking = self._model.model.detect_language(_subset(encoded, [0]))[0]
            self._language = ranking[0][0][2:-2]  # "<|en|>" -> "en"
        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer, self._model.model.is_multilingual, task="transcribe",
            language=self._language,
        )  # fmt: skip
        return self._tokenizer

    def _generate(
        self, encoded: ctranslate2.StorageView, tokenizer: Tokenizer, beam_size: int, limit: float
    ) -> list[_Hypothesis]:
        from faster_whisper.transcribe import (
            get_compression_ratio,
            get_suppressed_tokens,
        )

        prompt = self._model.get_prompt(tokenizer, [], without_timestamps=True)
        results = self._model.model.generate(
            encoded,
            [prompt] * encoded.shape[0],
            beam_size=beam_size,
            max_length=min(self._model.max_length, len(prompt) + math.ceil(limit) + 8),
            suppress_blank=True,
            suppress_tokens=list(get_suppressed_tokens(tokenizer, [-1])),
            return_scores=True,
            return_no_speech_prob=True,
        )
        hypotheses = []
        for result in results:
            tokens = result.sequences_ids[0]
            # Same average as faster-whisper's: the cumulative log-probability over tokens plus end-of-text.
            cumulative = result.scores[0] * len(tokens)
            hypotheses.append(
                _Hypothesis(
                    tokens=tokens,
                    avg_logprob=cumulative / (len(tokens) + 1),
                    no_speech_prob=result.no_speech_prob,
                    compression_ratio=get_compression_ratio(tokenizer.decode(tokens)),
                )
            )
        return hypotheses

    def _timed_words(
        self,
        chunks: list[SpeechChunk],
        tokens: list[list[int]],
        encoded: ctranslate2.StorageView,
        tokenizer: Tokenizer,
    ) -> list[TimedWord]:
        from faster_whisper.transcribe import merge_punctuations

        text_tokens = [[token for token in sequence if token < tokenizer.eot] for sequence in tokens]
        frames = [math.ceil(chunk.seconds * self._model.frames_per_second) for chunk in chunks]
        alignments = self._model.find_alignment(tokenizer, text_tokens, encoded, frames)
        words: list[TimedWord] = []
        for chunk, alignment in zip(chunks, alignments):
            merge_punctuations(alignment, _PREPEND_PUNCTUATION, _APPEND_PUNCTUATION)
            for timing in alignment:
                if not timing["word"].strip():
                    continue
                start, end = float(timing["start"]), min(float(timing["end"]), chunk.seconds)
                span = chunk.span_index((start + end) / 2)
                word = Word(
                    text=timing["word"].strip(),
                    start=chunk.to_source(start, span),
                    end=chunk.to_source(end, span),
                    probability=float(timing["probability"]),
                )
                words.append(TimedWord(timing["word"], word))
        return words
