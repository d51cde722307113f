"""Speed, memory and accuracy of insightcap's transcriber against faster-whisper's own two ways of running.

    python -m eval.asr_bench --data ../shared/eval [--minutes 10,60] [--model whisper-base]

Inputs: (a) the real clips in DATA/asr/, (b) long multi-voice meetings of the given lengths, rendered
from QMSum transcripts with tools/synth_meeting.py (the meeting with the most turns, continued
with the next when one is too short) and cached in /tmp. Configurations, each run in its own process so
peak RSS is its own: `sequential` = WhisperModel.transcribe (beam 5, word timestamps, defaults
otherwise), `batched` = faster-whisper's BatchedInferencePipeline (batch 8, word timestamps),
`ours` = the product's FasterWhisperTranscriber. Opt-in with `--configs ...,openai`: the reference
implementation, openai-whisper (beam 5, word timestamps) on the packaged weights converted by
`insightcap convert-whisper` (cached in /tmp) — about 20 times the CPU of the others. RTF = processing seconds / audio seconds,
excluding the model load (CPU s / audio s counts all threads' CPU time, steadier than RTF when
the machine is busy); WER after openai-whisper's EnglishTextNormalizer. `wer`, `rtf` and
`peak_rss_mb` in the figures are for the longest meeting; the machine may be shared, so compare
configurations within one run only.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eval.common import argument_parser, print_table, report

CONFIGS = ("sequential", "batched", "ours")
OPT_IN = ("openai",)
CACHE = Path("/tmp/insightcap_asr_bench")
SHARED_TOOL = Path("/work/shared/eval/tools/synth_meeting.py")


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance, one NumPy row at a time (hour-long transcripts in about a second)."""
    vocabulary: dict[str, int] = {}
    ref = np.array([vocabulary.setdefault(word, len(vocabulary)) for word in reference])
    hyp = np.array([vocabulary.setdefault(word, len(vocabulary)) for word in hypothesis])
    steps = np.arange(len(hyp) + 1)
    row = steps.copy()
    for index, word in enumerate(ref, start=1):
        candidates = np.empty_like(row)
        candidates[0] = index
        # deletion (from above) or substitution/match (diagonal)
        candidates[1:] = np.minimum(row[1:] + 1, row[:-1] + (hyp != word))
        # insertion (from the left) is a running minimum along the row
        row = np.minimum.accumulate(candidates - steps) + steps
    return int(row[-1])


def _render_tool(data: Path) -> Path:
    local = data.parent / "tools" / "synth_meeting.py"
    return local if local.is_file() else SHARED_TOOL


def _meetings_by_turns(data: Path) -> list[str]:
    """Meeting ids, the most turn-taking first: the hardest case for chunk borders and voice changes."""
    lines = (data / "qmsum" / "meetings.jsonl").read_text(encoding="utf-8").splitlines()
    turns = {meeting["meeting_id"]: meeting["n_turns"] for meeting in map(json.loads, filter(None, lines))}
    return sorted(turns, key=turns.__getitem__, reverse=True)


def meeting_audio(data: Path, minutes: int) -> tuple[Path, str, float]:
    """A rendered meeting of at least `minutes`, its reference text and duration; rendered once, cached."""
    target = minutes * 60.0
    pieces: list[Path] = []
    rendered = 0.0
    for meeting_id in _meetings_by_turns(data):
        out = CACHE / f"{meeting_id}_{round(target - rendered)}"
        if not out.with_suffix(".json").is_file():
            CACHE.mkdir(parents=True, exist_ok=True)
            meetings = str(data / "qmsum" / "meetings.jsonl")
            subprocess.run(
                [sys.executable, str(_render_tool(data)), "--meetings", meetings, "--meeting", meeting_id,
                 "--max-seconds", str(target - rendered), "--out", str(out)],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        pieces.append(out)
        rendered += json.loads(out.with_suffix(".json").read_text())["duration_s"]
        if rendered >= target - 1:
            break
    segments = [json.loads(piece.with_suffix(".json").read_text())["segments"] for piece in pieces]
    reference = " ".join(segment["text"] for piece_segments in segments for segment in piece_segments)
    if len(pieces) == 1:
        return pieces[0].with_suffix(".flac"), reference, rendered
    joined = CACHE / ("+".join(piece.name for piece in pieces) + ".flac")
    if not joined.is_file():
        flacs = [str(piece.with_suffix(".flac")) for piece in pieces]
        subprocess.run(["sox", *flacs, str(joined)], check=True)
    return joined, reference, rendered


def _transcribe_function(config: str, model_name: str):
    """A function path -> text for one configuration, with its model loaded."""
    from insightcap.config import get_settings
    from insightcap.progress import ignore_progress
    from insightcap.transcript.runtimes.faster_whisper import FasterWhisperTranscriber
    from insightcap.weights import model_path

    settings = get_settings().model_copy(update={"asr_model": model_name})
    if config == "ours":
        transcriber = FasterWhisperTranscriber(settings)
        return lambda path: transcriber.transcribe(path, ignore_progress).text
    if config == "openai":
        return _openai_transcribe_function(model_name, settings.model_cache_dir)

    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(
        str(model_path(model_name, settings.model_cache_dir)), device="cpu",
        compute_type=settings.asr_compute_type, cpu_threads=settings.cpu_threads,
    )  # fmt: skip
    if config == "sequential":
        run = lambda path: model.transcribe(str(path), beam_size=5, word_timestamps=True)[0]
    else:
        pipeline = BatchedInferencePipeline(model)
        run = lambda path: pipeline.transcribe(str(path), batch_size=8, word_timestamps=True)[0]
    return lambda path: " ".join(segment.text.strip() for segment in run(path))


def _openai_transcribe_function(model_name: str, cache_dir: Path):
    """The reference implementation: openai-whisper on the model converted from CTranslate2."""
    import whisper

    from insightcap.transcript.runtimes.ct2_checkpoint import convert_model
    from insightcap.transcript.runtimes.openai_whisper import load_checkpoint

    checkpoint = CACHE / f"{model_name}.pt"
    if not checkpoint.is_file():
        convert_model(model_name, checkpoint, cache_dir)
    model = load_checkpoint(str(checkpoint))
    # Like `sequential`: beam 5 and word timestamps, openai-whisper's defaults otherwise.
    return lambda path: whisper.transcribe(
        model, str(path), beam_size=5, word_timestamps=True, fp16=False, verbose=None
    )["text"].strip()


def worker(config: str, model_name: str, paths: list[Path]) -> None:
    """In its own process: transcribe each path (the first one twice, warming up), print JSON results."""
    transcribe = _transcribe_function(config, model_name)
    if len(paths) > 1:  # the clips: short enough that first-call costs would dominate
        transcribe(paths[0])
    results = []
    for path in paths:
        started, cpu_started = time.perf_counter(), time.process_time()
        text = transcribe(path)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        results.append({"text": text, "seconds": seconds, "cpu_seconds": cpu})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"results": results, "peak_rss_mb": peak_mb}))


def _run(config: str, model_name: str, paths: list[Path]) -> dict:
    command = [sys.executable, "-m", "eval.asr_bench", "--worker", config, "--model", model_name]
    done = subprocess.run([*command, *map(str, paths)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"The {config} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _score(run: dict, references: list[str], durations: list[float], normalize) -> dict[str, float]:
    errors = words = 0
    for result, reference in zip(run["results"], references):
        ref = normalize(reference).split()
        errors += word_errors(ref, normalize(result["text"]).split())
        words += len(ref)
    seconds = sum(result["seconds"] for result in run["results"])
    cpu_seconds = sum(result["cpu_seconds"] for result in run["results"])
    return {
        "wer": errors / words,
        "rtf": seconds / sum(durations),
        "cpu_rtf": cpu_seconds / sum(durations),
        "peak_rss_mb": run["peak_rss_mb"],
    }


def _write_hypotheses(folder: Path, config: str, name: str, run: dict, references: list[str]) -> None:
    """Hypotheses and references one text per line, so `diff`/`wdiff` shows where configurations differ."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{config}_{name}.txt").write_text("\n".join(result["text"] for result in run["results"]) + "\n")
    (folder / f"reference_{name}.txt").write_text("\n".join(references) + "\n")


def main() -> None:
    parser = argument_parser("Speed, memory and WER: sequential vs batched faster-whisper vs insightcap.")
    parser.add_argument("--minutes", default="10,60", help="meeting lengths to render, comma-separated")
    parser.add_argument("--model", default="whisper-base", help="an ASR model in models/manifest.toml")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="a subset of " + ",".join(CONFIGS + OPT_IN))
    parser.add_argument("--no-clips", action="store_true", help="skip the real clips (quicker iterations)")
    parser.add_argument("--hypotheses", type=Path, help="a folder to write each configuration's text to, for diffing")
    parser.add_argument("--worker", choices=CONFIGS + OPT_IN, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.model, args.paths)
        return

    from whisper.normalizers import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    manifest = (args.data / "asr" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    clips = [json.loads(line) for line in manifest if line.strip()]
    inputs: dict[str, tuple[list[Path], list[str], list[float]]] = {}
    if not args.no_clips:
        inputs["clips"] = (
            [args.data / "asr" / clip["audio"] for clip in clips],
            [clip["reference"] for clip in clips],
            [clip["duration_s"] for clip in clips],
        )
    for minutes in sorted(int(value) for value in args.minutes.split(",") if value):
        path, reference, duration = meeting_audio(args.data, minutes)
        inputs[f"{minutes}min"] = ([path], [reference], [duration])

    scores: dict[str, dict[str, dict[str, float]]] = {}
    for config in args.configs.split(","):
        for name, (paths, references, durations) in inputs.items():
            run = _run(config, args.model, paths)
            scores.setdefault(config, {})[name] = _score(run, references, durations, normalize)
            if args.hypotheses:
                _write_hypotheses(args.hypotheses, config, name, run, references)
            print(f"{config} {name}: {scores[config][name]}", file=sys.stderr, flush=True)

    rows = [
        (config, name, figures["wer"], figures["rtf"], 1 / figures["rtf"], figures["cpu_rtf"],
         round(figures["peak_rss_mb"]))
        for config, by_input in scores.items()
        for name, figures in by_input.items()
    ]  # fmt: skip
    print_table(
        f"ASR bench: {args.model}; RTF excludes model load; x real time = 1 / RTF",
        ["config", "input", "WER", "RTF", "x real time", "CPU s / audio s", "peak RSS MB"],
        rows,
    )
    longest = list(inputs)[-1]
    figures: dict[str, object] = {
        config: {key: round(value, 4) for key, value in by_input[longest].items()}
        | ({"clips_wer": round(by_input["clips"]["wer"], 4)} if "clips" in by_input else {})
        for config, by_input in scores.items()
    }
    if {"sequential", "batched", "ours"} <= scores.keys():
        ours = scores["ours"][longest]["rtf"]
        figures["speedup_vs_sequential"] = round(scores["sequential"][longest]["rtf"] / ours, 3)
        figures["speedup_vs_batched"] = round(scores["batched"][longest]["rtf"] / ours, 3)
        ours_cpu = scores["ours"][longest]["cpu_rtf"]
        figures["cpu_speedup_vs_sequential"] = round(scores["sequential"][longest]["cpu_rtf"] / ours_cpu, 3)
        figures["cpu_speedup_vs_batched"] = round(scores["batched"][longest]["cpu_rtf"] / ours_cpu, 3)
    for name in inputs:
        if name != "clips" and "ours" in scores:
            figures[f"rss_{name}_mb"] = round(scores["ours"][name]["peak_rss_mb"])
    figures["longest_input"] = longest
    # A quick run on a subset must not overwrite the full run's figures that the README quotes.
    complete = not args.no_clips and set(CONFIGS) <= scores.keys()
    report("asr_bench" if complete else "asr_bench_subset", figures)


if __name__ == "__main__":
    main()
