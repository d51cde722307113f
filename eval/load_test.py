"""Load test: simulated facilitators search, read and edit memos on a real server while its worker
transcribes two real recordings; afterwards, every memo save that was acknowledged must be in the
history with exactly its text (no lost writes).

The server is `insightcap serve` in a subprocess on a free loopback port, with a fresh data dir, the
fast ASR model and no text generator; the admin and its API token are made with the CLI first. The
sessions are seeded by uploading transcripts (the test fixtures, or QMSum meetings when --data is
given) and waiting for them to be processed; then the recordings are uploaded and the users start.
Each user loops: search (a few words said in a seeded session), list sessions, read a session, read
its memo and save an edit based on the version read. A 409 on a save is optimistic locking doing its
job (someone saved in between): it is counted as a conflict, not an error.

    python -m eval.load_test [--users 20] [--seconds 120] [--data ../shared/eval]
"""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from eval.common import argument_parser, print_table, report
from eval.qmsum_to_vtt import MEETING_FILES, qmsum_meeting_to_vtt

REPO = Path(__file__).resolve().parents[1]
FIXTURE_TRANSCRIPTS = REPO / "tests" / "fixtures" / "transcripts"
RECORDINGS = [REPO / "examples" / "team-retrospective.ogg", REPO / "examples" / "jfk-inaugural-excerpt.flac"]
ADMIN = "load-admin@example.org"
PROGRAM = "Load test circle"
QMSUM_MEETINGS, QMSUM_TURNS = 4, 200
REQUEST_TIMEOUT = 30.0


@dataclass
class Outcome:
    """What one user saw: latencies per operation, failures by kind, conflicts and acknowledged saves."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)  # (operation, kind) -> count
    conflicts: int = 0
    saved: list[tuple[str, int, str]] = field(default_factory=list)  # (session id, version, markdown)


def cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-m", "insightcap", *args], env=env, input=stdin, text=True,
                          capture_output=True, check=False)
    if done.returncode:
        raise SystemExit(f"insightcap {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(folder: Path) -> Iterator[tuple[str, str]]:
    """(base URL, admin API token) of a fresh server, stopped on exit."""
    env = {**os.environ, "INSIGHTCAP_DATA_DIR": str(folder / "data"), "INSIGHTCAP_ASR_MODEL": "whisper-tiny-en",
           "INSIGHTCAP_GENERATOR": "none", "HF_HUB_OFFLINE": "1"}
    cli(env, "user", "add", ADMIN, "--role", "admin", "--password-stdin", stdin="load test password, long enough\n")
    token = cli(env, "token", "create", ADMIN, "--name", "load test").strip().splitlines()[-1]
    port = free_port()
    log = (folder / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "insightcap", "serve", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base_url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            raise SystemExit(f"the server did not start:\n{server_log(folder)}")
        yield base_url, token
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def server_log(folder: Path, lines: int = 30) -> str:
    return "\n".join((folder / "server.log").read_text(errors="replace").splitlines()[-lines:])


def seed_files(data: Path | None, folder: Path) -> list[Path]:
    """The fixture transcripts, or the first QMSum meetings written as WebVTT."""
    if data is None:
        return sorted(FIXTURE_TRANSCRIPTS.iterdir())
    files = []
    with (data / MEETING_FILES[0]).open(encoding="utf-8") as lines:
        for line, _ in zip(lines, range(QMSUM_MEETINGS)):
            meeting = json.loads(line)
            path = folder / f"{meeting['meeting_id']}.vtt"
            path.write_text(qmsum_meeting_to_vtt(meeting, QMSUM_TURNS), encoding="utf-8")
            files.append(path)
    return files


def upload(client: httpx.Client, path: Path) -> str:
    """Submits the file; returns its job id."""
    with path.open("rb") as body:
        response = client.post("/api/sessions", data={"title": path.stem, "program": PROGRAM},
                               files={"file": (path.name, body)}, timeout=120)
    response.raise_for_status()
    return response.json()["job_id"]


def wait_for_jobs(client: httpx.Client, job_ids: list[str], seconds: float) -> dict[str, dict]:
    """The jobs' last state once all finished or `seconds` passed."""
    deadline, jobs = time.monotonic() + seconds, {}
    while True:
        jobs = {job_id: client.get(f"/api/jobs/{job_id}").json() for job_id in job_ids}
        if all(job["status"] in ("done", "failed") for job in jobs.values()) or time.monotonic() > deadline:
            return jobs
        time.sleep(2)


def phrases_said(client: httpx.Client, session_ids: list[str]) -> list[str]:
    """Search queries: 2-5 consecutive words from the seeded transcripts, as a user remembers them."""
    phrases = []
    for session_id in session_ids:
        for segment in client.get(f"/api/sessions/{session_id}").json()["transcript"]:
            words = segment["text"].split()
            if len(words) >= 2:
                start = random.randrange(len(words) - 1)
                phrases.append(" ".join(words[start:start + random.randint(2, 5)]))
    return phrases


def simulated_user(base_url: str, token: str, session_ids: list[str], phrases: list[str], until: float,
                   outcome: Outcome) -> None:
    rng = random.Random()
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                      timeout=REQUEST_TIMEOUT) as client:

        def call(operation: str, method: str, path: str, **kwargs) -> httpx.Response | None:
            started = time.perf_counter()
            try:
                response = client.request(method, path, **kwargs)
            except httpx.TimeoutException:
                outcome.errors[operation, "timeout"] += 1
                return None
            except httpx.TransportError:
                outcome.errors[operation, "connection"] += 1
                return None
            outcome.latencies[operation].append(time.perf_counter() - started)
            conflict = operation == "memo_save" and response.status_code == 409
            if response.status_code >= 400 and not conflict:
                outcome.errors[operation, str(response.status_code)] += 1
            return response

        while time.monotonic() < until:
            session_id = rng.choice(session_ids)
            action = rng.choices(["search", "list", "session", "edit"], weights=[4, 1, 2, 3])[0]
            if action == "search":
                call("search", "GET", "/api/search", params={"q": rng.choice(phrases)})
            elif action == "list":
                call("sessions", "GET", "/api/sessions")
            elif action == "session":
                call("session", "GET", f"/api/sessions/{session_id}")
            else:
                memo = call("memo_read", "GET", f"/api/sessions/{session_id}/memo")
                if memo is None or memo.status_code != 200:
                    continue
                text = f"{memo.json()['markdown'].rstrip()}\n\n- Edit {uuid.uuid4().hex}\n"
                saved = call("memo_save", "PUT", f"/api/sessions/{session_id}/memo",
                             json={"markdown": text, "version": memo.json()["version"]})
                if saved is not None and saved.status_code == 409:
                    outcome.conflicts += 1
                elif saved is not None and saved.status_code == 200:
                    outcome.saved.append((session_id, saved.json()["version"], text))


def lost_writes(client: httpx.Client, saved: list[tuple[str, int, str]]) -> int:
    """Acknowledged saves missing from the history, or whose stored text differs from what was sent."""
    histories = {session_id: {v["version"] for v in client.get(f"/api/sessions/{session_id}/memo/versions").json()}
                 for session_id in {session_id for session_id, _, _ in saved}}
    lost = 0
    for session_id, version, text in saved:
        stored = client.get(f"/api/sessions/{session_id}/memo/versions/{version}")
        if version not in histories[session_id] or stored.status_code != 200 or stored.json()["markdown"] != text:
            lost += 1
    return lost


def percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1] if len(values) > 1 \
        else (values[0] if values else 0.0)


def main() -> None:
    parser = argument_parser("Concurrent users searching and editing memos while the worker transcribes.")
    parser.set_defaults(data=None)  # seed with the fixture transcripts unless a QMSum folder is given
    parser.add_argument("--users", type=int, default=20, help="simulated users (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=120, help="how long they work (default: %(default)s)")
    parser.add_argument("--upload-wait", type=float, default=600,
                        help="how long to wait after the load for the recordings to finish (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="insightcap-load-") as tmp, running_server(Path(tmp)) as (base_url, token):
        admin = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        seeds = wait_for_jobs(admin, [upload(admin, path) for path in seed_files(args.data, Path(tmp))], 900)
        session_ids = [job["session_id"] for job in seeds.values() if job["status"] == "done"]
        if not session_ids:
            raise SystemExit(f"no seeded session was processed: {seeds}\n{server_log(Path(tmp))}")
        phrases = phrases_said(admin, session_ids)
        recordings = [upload(admin, path) for path in RECORDINGS]
        started = time.monotonic()
        outcomes = [Outcome() for _ in range(args.users)]
        users = [threading.Thread(target=simulated_user, args=(base_url, token, session_ids, phrases,
                                                               started + args.seconds, outcome))
                 for outcome in outcomes]
        for user in users:
            user.start()
        for user in users:
            user.join()
        during_load = wait_for_jobs(admin, recordings, 0)
        finished = wait_for_jobs(admin, recordings, args.upload_wait)
        waited = time.monotonic() - started
        saved = [write for outcome in outcomes for write in outcome.saved]
        lost = lost_writes(admin, saved)

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    for outcome in outcomes:
        for operation, values in outcome.latencies.items():
            latencies[operation].extend(values)
        errors.update(outcome.errors)
    conflicts = sum(outcome.conflicts for outcome in outcomes)
    rows = [(operation, len(values), 1000 * percentile(values, 0.5), 1000 * percentile(values, 0.95),
             1000 * max(values), sum(n for (op, _), n in errors.items() if op == operation))
            for operation, values in sorted(latencies.items())]
    print_table(f"{args.users} users for {args.seconds:.0f} s, {len(session_ids)} seeded sessions",
                ["operation", "requests", "p50 ms", "p95 ms", "max ms", "errors"], rows)
    print_table("Recordings processed meanwhile", ["file", "at end of load", "finally", "error"],
                [(path.name, during_load[job_id]["status"], finished[job_id]["status"], finished[job_id]["error"] or "")
                 for path, job_id in zip(RECORDINGS, recordings)])
    print(f"errors by kind: {dict(errors) or 'none'}; conflicts: {conflicts}; acknowledged saves: {len(saved)}, "
          f"lost: {lost}; recordings followed for {waited:.0f} s from the start of the load")
    report("load_test", {
        "users": args.users,
        "seconds": args.seconds,
        "requests": sum(len(values) for values in latencies.values()) + sum(
            n for (_, kind), n in errors.items() if kind in ("timeout", "connection")),
        "errors": sum(errors.values()),
        "p95_ms": {operation: round(1000 * percentile(values, 0.95), 1) for operation, values in latencies.items()},
        "lost_writes": lost,
        "conflicts": conflicts,
        "uploads_done": sum(job["status"] == "done" for job in finished.values()),
    })


if __name__ == "__main__":
    main()
