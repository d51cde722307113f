"""Word error rate and speed of insightcap's transcriber on the real speech clips in DATA/asr/.

    python -m eval.asr --data ../shared/eval [--model whisper-base]

Both sides are normalised with openai-whisper's EnglishTextNormalizer, the normaliser published
Whisper WERs use. Overall WER is word-weighted (all errors / all reference words). RTF is
processing seconds / audio seconds for decoding, VAD and transcription, excluding the model load
(one untimed warm-up run on the first clip also loads the VAD model); below 1 is faster than real time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from nltk.metrics.distance import edit_distance
from whisper.normalizers import EnglishTextNormalizer

from eval.common import argument_parser, print_table, report
from insightcap.config import get_settings
from insightcap.progress import ignore_progress
from insightcap.transcript.transcribe import get_transcriber


def _clips(data: Path) -> list[dict]:
    manifest = data / "asr" / "manifest.jsonl"
    return [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argument_parser("Word error rate and real-time factor of the transcriber.")
    parser.add_argument("--model", default="whisper-base", help="an ASR model in models/manifest.toml")
    args = parser.parse_args()
    settings = get_settings().model_copy(update={"asr_model": args.model})
    transcriber = get_transcriber(settings)
    normalize = EnglishTextNormalizer()
    clips = _clips(args.data)
    transcriber.transcribe(args.data / "asr" / clips[0]["audio"], ignore_progress)

    rows: list[tuple] = []
    per_clip: dict[str, dict[str, float]] = {}
    errors_total = words_total = 0
    seconds_total = audio_total = 0.0
    for clip in clips:
        started = time.perf_counter()
        transcript = transcriber.transcribe(args.data / "asr" / clip["audio"], ignore_progress)
        seconds = time.perf_counter() - started
        reference, hypothesis = normalize(clip["reference"]).split(), normalize(transcript.text).split()
        errors = edit_distance(reference, hypothesis)
        wer, rtf = errors / len(reference), seconds / clip["duration_s"]
        per_clip[clip["id"]] = {"wer": round(wer, 4), "rtf": round(rtf, 4)}
        rows.append(
            (clip["id"], clip["duration_s"], len(reference), errors, wer, rtf, " ".join(hypothesis)[:60])
        )
        errors_total += errors
        words_total += len(reference)
        seconds_total += seconds
        audio_total += clip["duration_s"]

    wer, rtf = errors_total / words_total, seconds_total / audio_total
    rows.append(("all (word-weighted)", audio_total, words_total, errors_total, wer, rtf, ""))
    print_table(
        f"ASR: {args.model}, {settings.asr_compute_type}, beam {settings.asr_beam_size}, "
        f"{settings.cpu_threads} threads (RTF excludes model load)",
        ["clip", "audio s", "ref words", "errors", "WER", "RTF", "normalised hypothesis"],
        rows,
    )
    report(
        "asr",
        {
            "wer": round(wer, 4),
            "rtf": round(rtf, 4),
            "model": args.model,
            "compute_type": settings.asr_compute_type,
            "beam_size": settings.asr_beam_size,
            "clips": per_clip,
        },
    )


if __name__ == "__main__":
    main()
