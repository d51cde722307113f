"""`insightcap user …`, `token …` and `audit` as scripts use them, and `serve` refusing to start
with nobody able to sign in."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from insightcap.cli import app
from insightcap.config import get_settings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INSIGHTCAP_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def run(*args: str, stdin: str | None = None, ok: bool = True):
    result = runner.invoke(app, list(args), input=stdin)
    assert (result.exit_code == 0) == ok, result.output
    return result


def test_accounts_tokens_and_audit_from_the_command_line(data_dir: Path) -> None:
    run("user", "add", "admin@example.org", "--role", "admin", "--password-stdin", stdin="an admin password\n")
    run("user", "add", "fac@example.org", "--role", "facilitator", "--program", "Circle A", "--program", "Circle B",
        "--new-program", "--password-stdin", stdin="a facilitator password\n")
    run("user", "grant", "fac@example.org", "--role", "member", "--program", "Circle C", "--new-program")
    users = {u["email"]: u for u in json.loads(run("user", "list", "--json").stdout)}
    assert users["admin@example.org"]["is_admin"]
    assert users["fac@example.org"]["programs"] == {"Circle A": "facilitator", "Circle B": "facilitator",
                                                    "Circle C": "member"}
    # Revoking a role never held is said, and not logged as a change.
    nothing = run("user", "revoke", "admin@example.org", "--program", "Circle A", ok=False)
    assert "admin@example.org has no role in Circle A: nothing to revoke." in " ".join(nothing.output.split())

    token = run("token", "create", "fac@example.org", "--name", "nightly export").stdout.strip().splitlines()[-1]
    from insightcap.web.app import create_app

    with TestClient(create_app(get_settings()), headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/api/me").json()["programs"]["Circle C"] == "member"
        run("token", "revoke", "1")
        assert client.get("/api/me").status_code == 401

    events = json.loads(run("audit", "--json").stdout)
    assert [e["action"] for e in events] == ["token_revoke", "token_create", "user_grant", "user_add", "user_add"]
    assert all(e["actor"].startswith("cli:") for e in events)


def test_clear_refusals(data_dir: Path) -> None:
    short = run("user", "add", "a@example.org", "--role", "admin", "--password-stdin", stdin="short\n", ok=False)
    assert "at least 10 characters" in short.output
    no_program = run("user", "add", "m@example.org", "--role", "member", "--password-stdin",
                     stdin="a member password\n", ok=False)
    assert "--program" in no_program.output
    run("user", "add", "a@example.org", "--role", "admin", "--password-stdin", stdin="an admin password\n")
    twice = run("user", "add", "A@example.org", "--role", "admin", "--password-stdin", stdin="an admin password\n",
                ok=False)
    assert "already has an account" in twice.output
    last = run("user", "disable", "a@example.org", ok=False)
    assert "last admin" in last.output
    assert "no account for nobody@example.org" in run("token", "create", "nobody@example.org", ok=False).output


def test_serve_without_an_admin_says_how_to_create_one(tmp_path: Path) -> None:
    env = {**os.environ, "INSIGHTCAP_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "insightcap", "serve", "--port", "0"], env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "insightcap user add you@example.org --role admin" in result.stderr


@pytest.mark.slow
def test_backup_forget_and_restore_from_the_command_line(data_dir: Path, tmp_path: Path) -> None:
    """The README's data-safety commands, in the order an admin would use them."""
    vtt = Path(__file__).resolve().parent / "fixtures" / "transcripts" / "zoom.vtt"
    run("import", str(vtt), "--title", "Feedback circle", "--program", "Mentoring cohort")
    session_id = json.loads(run("sessions", "--json").stdout)[0]["id"]
    phrase = "long email with every problem"
    assert session_id in run("search", phrase).stdout

    archive = Path(run("backup", str(tmp_path)).stdout.strip().splitlines()[-1])
    assert archive.is_file() and archive.parent == tmp_path
    run("forget", session_id, "--yes")
    newest, backed_up = run("audit", "--limit", "2").stdout.splitlines()  # one line per event, whole
    operator = f"cli:{getpass.getuser()}"
    assert newest.endswith(f"UTC  {operator}  delete_session  {session_id}")
    assert backed_up.endswith(f"UTC  {operator}  backup  {archive}")
    assert json.loads(run("sessions", "--json").stdout) == []
    assert session_id not in run("search", phrase).stdout
    assert "already has sessions" not in run("restore", str(archive)).stdout

    assert json.loads(run("sessions", "--json").stdout)[0]["id"] == session_id
    assert session_id in run("search", phrase).stdout


def test_granting_a_program_joins_it_whatever_the_case_and_refuses_a_typo(data_dir: Path) -> None:
    password = "a facilitator password\n"
    run("user", "add", "maria@example.org", "--role", "facilitator", "--program", "Mentoring cohort", "--new-program",
        "--password-stdin", stdin=password)
    joined = run("user", "add", "sam@example.org", "--role", "member", "--program", "  mentoring  COHORT ",
                 "--password-stdin", stdin=password)
    assert "Added sam@example.org as member in Mentoring cohort." in " ".join(joined.stdout.split())

    typo = run("user", "add", "typo@example.org", "--role", "facilitator", "--program", "Mentoring cohrt",
               "--password-stdin", stdin=password, ok=False)
    said = " ".join(typo.output.split())
    assert "No program 'Mentoring cohrt'. Did you mean 'Mentoring cohort'?" in said
    assert "The programs are: 'Mentoring cohort'." in said and "--new-program" in said
    granted = run("user", "grant", "maria@example.org", "--role", "member", "--program", "Spring circl", ok=False)
    assert "Did you mean" not in granted.output and "--new-program" in granted.output

    users = {u["email"]: u["programs"] for u in json.loads(run("user", "list", "--json").stdout)}
    assert users == {"maria@example.org": {"Mentoring cohort": "facilitator"},
                     "sam@example.org": {"Mentoring cohort": "member"}}
    listed = run("programs").stdout
    assert "Mentoring cohort" in listed and "cohrt" not in listed and "Spring" not in listed
    themes = run("themes", "mentoring cohrt", ok=False)
    assert "Did you mean 'Mentoring cohort'?" in " ".join(themes.output.split())
    assert "Programs are created when" not in themes.output
