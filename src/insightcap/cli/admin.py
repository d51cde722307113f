"""The commands that look after the installation and its data folder rather than one meeting:
`template`, `reindex`, `backup`, `restore`, `forget`, `models`, `convert-whisper` and `serve`. Those
that write to the folder hold it, so that a restore cannot replace it under them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from insightcap.cli.common import (
    SessionArgument,
    err,
    fail,
    holding_data_folder,
    out,
    record_in_audit_log,
    session_or_fail,
    whole_number,
)
from insightcap.config import Settings, get_settings

if TYPE_CHECKING:
    from insightcap.weights import ModelSpec


def template(
    program: Annotated[str, typer.Argument(help="The program's name.")],
    new_program: Annotated[bool, typer.Option("--new-program", help="Start the program if it does not exist yet "
                                              "(without it, an unknown name is refused as a likely typo).")] = False,
) -> None:
    """Give a program its own memo templates: copies of the defaults to edit, used for its next memos."""
    from insightcap.memo.render import start_program_templates
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    settings = get_settings()
    with session_scope(settings) as db:
        # As `user grant` does: templates under a misspelt name would never be used, silently.
        if not program.strip():
            fail("Give the program's name (`insightcap programs` lists them).")
        if new_program:
            program = repo.get_or_create_program(db, program).name
        else:
            try:
                program = repo.program_by_name(db, program).name
            except repo.NotFound as error:
                fail(f"{escape(str(error))} To start a program of that name, add --new-program.")
    for path, copied in start_program_templates(settings.data_dir, program).items():
        out.print(f"{path} ({'a copy of the default' if copied else 'already there, left as it is'})", highlight=False)
    out.print(
        "Edit them (Jinja2; the copies use every field a memo has, and the README's section \"A program's own "
        "memo template\" describes them); the program's next memos use them. "
        "Delete a file to go back to the default; memos already drafted are not changed."
    )


def reindex() -> None:
    """Rebuild the search indexes and program themes from the database (e.g. after changing the embedding model)."""
    from insightcap.search.indexing import rebuild_indexes

    settings = get_settings()
    with holding_data_folder(settings), err.status("Rebuilding search indexes…"):
        report = rebuild_indexes(settings)
    out.print(f"Indexed {report.passages} passages and {report.insights} insights from {report.sessions} sessions.")


def backup(
    destination: Annotated[Path, typer.Argument(help="A folder (created if missing) to write a dated .tar.gz file "
                                                "into, or a new file name ending in .tar.gz.")],
) -> None:
    """Save a consistent copy of every session, memo, account and recording (safe while the server runs)."""
    from insightcap.storage.backup import BackupError
    from insightcap.storage.backup import backup as make_backup

    try:
        with err.status("Backing up…"):
            report = make_backup(get_settings(), destination)
    except BackupError as error:
        fail(str(error))
    for missing in report.missing_files:
        err.print(f"[yellow]Missing from the data folder, not in the backup:[/] {escape(missing)}")
    record_in_audit_log("backup", "", str(report.archive))
    out.print(f"Backed up {report.sessions} sessions, {report.memo_versions} memo versions and {report.files} files "
              f"({report.bytes / 1e6:.1f} MB) to")
    print(report.archive)


def restore(
    archive: Annotated[Path, typer.Argument(help="A file made by `insightcap backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a data folder that already has sessions "
                                        "(it is moved aside, not deleted).")] = False,
) -> None:
    """Bring a backup back. Refused while `insightcap serve` or another command works on the data folder:
    the whole folder is replaced."""
    from insightcap.search.indexing import rebuild_indexes
    from insightcap.storage.backup import BackupError
    from insightcap.storage.backup import restore as restore_backup

    settings = get_settings()
    try:
        report = restore_backup(settings, archive, force=force)
    except BackupError as error:
        fail(str(error))
    if report.previous_data_dir:
        out.print(f"Your previous data is kept in {report.previous_data_dir}")
    # The rebuild holds the restored folder shared, from right after the restore. Not inside the
    # restore's exclusive lock: that lock is on the folder it replaced, which moved aside with it, so it
    # would keep no one off the restored one. Nor exclusively: like `reindex`, a rebuild may share the
    # folder with the server or a job (the index files have locks of their own); what it must not meet
    # is another restore moving the folder away while it writes.
    another_restore = (f"The backup was restored, but another restore of {report.data_dir} began before its search "
                       "index was rebuilt. That restore rebuilds the index when it finishes; if it fails, run "
                       "`insightcap reindex`.")
    with holding_data_folder(settings, when_busy=another_restore), err.status("Rebuilding the search index…"):
        rebuild_indexes(settings)
    out.print(f"Restored {report.sessions} sessions and {report.files} files from the backup of "
              f"{report.backup_created_at:%Y-%m-%d %H:%M} into {report.data_dir}.")


def forget(
    session: SessionArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a session everywhere: recording, transcript, insights, memos, search index and themes."""
    from insightcap.forget import ForgetRefused, forget_session
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    settings = get_settings()
    with session_scope(settings) as db:
        # A refused recording's session is deleted at once; the note of why is all there is to forget.
        # An empty id is the start of every note's too: that is for session_or_fail to refuse.
        gone = session.strip() and not repo.session_ids_starting_with(db, session)
        refused = repo.refusal_of_session(db, session) if gone else None
        if refused is None:
            record = session_or_fail(db, session)
            session_id, title = record.id, record.title
        else:
            job_id, title = refused.job_id, refused.title
    if refused is not None:
        _forget_refusal_note(settings, job_id, title, yes)
        return
    if not yes:
        _confirm_deletion(f"Delete “{title}” ({session_id}) and everything derived from it, for good?")
    try:
        forget_session(settings, session_id)
    except ForgetRefused as error:
        fail(str(error))
    record_in_audit_log("delete_session", session_id)
    out.print(f"Deleted session {session_id} everywhere.")


def _forget_refusal_note(settings: Settings, job_id: str, title: str, yes: bool) -> None:
    """The session of a refused recording is already gone; what is left is the note of why, kept a week."""
    from insightcap.forget import forget_refusal

    if not yes:
        _confirm_deletion(f"The recording “{title}” was refused and is no longer stored. "
                          "Delete the note of why (its title and reason) now?")
    forget_refusal(settings, job_id)
    record_in_audit_log("delete_refusal", job_id)
    out.print("Deleted the note of the refused recording.")


def _confirm_deletion(question: str) -> None:
    """Ask before deleting for good. Anything but yes (no, Enter, Ctrl+C, no input at all) stops the
    command, saying that nothing was deleted: a bare "Aborted." leaves the user wondering."""
    try:
        agreed = typer.confirm(question)
    except typer.Abort:  # Ctrl+C, or the end of the input
        err.print()
        agreed = False
    if not agreed:
        err.print("Nothing was deleted.")
        raise typer.Exit(code=1)


def models(
    check: Annotated[bool, typer.Option("--check", help="Assemble and verify the packaged weights now.")] = False,
) -> None:
    """List the models insightcap uses, where their weights come from, and their licenses."""
    from insightcap.weights import ModelUnavailable, load_manifest, model_path

    settings = get_settings()
    chosen = {settings.asr_model, settings.embedding_model, settings.nlp_model, settings.speaker_model}
    if settings.generator.strip().lower() not in ("none", "openai"):  # those draft without the local model
        chosen.add(settings.generator_model)
    table = Table("name", "task", "weights from", "license", "in use", "check")
    failures = 0
    for spec in load_manifest().values():
        status = ""
        if check and spec.source == "pypi" and spec.runtime != "spacy":
            try:
                status = f"ok: {model_path(spec.name, settings.model_cache_dir)}"
            except ModelUnavailable as error:
                status, failures = f"missing: {error}", failures + (spec.name in chosen and spec.task != "generator")
        table.add_row(spec.name, spec.task, _weights_source(spec), spec.license, "yes" if spec.name in chosen else "", status)
    out.print(table)
    if failures:
        raise typer.Exit(code=1)


def _weights_source(spec: ModelSpec) -> str:
    """The PyPI packages a model's weights ship in (one a line), else its hub id or folder."""
    if spec.source == "pypi":
        return "\n".join(spec.packages)
    return f"hub: {spec.hub_id}" if spec.source == "hub" else f"folder: {spec.path}"


def convert_whisper(
    out_file: Annotated[Path, typer.Argument(help="Where to write the openai-whisper checkpoint, e.g. base.pt "
                                             "(given a folder, <model>.pt in it).")],
    model: Annotated[str, typer.Option(help="CTranslate2 Whisper model from models/manifest.toml, or its folder.")] = "whisper-base",
) -> None:
    """Convert a packaged Whisper model into an openai-whisper checkpoint, to run the reference implementation."""
    from insightcap.transcript.runtimes.ct2_checkpoint import convert_model
    from insightcap.weights import ModelUnavailable

    if out_file.is_dir():  # else the conversion would end by failing to replace the folder with the file
        out_file = out_file / f"{Path(model).name}.pt"
    try:
        written = convert_model(model, out_file, get_settings().model_cache_dir)
    except ModelUnavailable as error:
        fail(str(error))
    out.print(f"Wrote {written}. Transcribe with it: INSIGHTCAP_ASR_MODEL={written.resolve()} insightcap process …")


def _ensure_an_admin(settings: Settings) -> None:
    """Nobody could sign in without an admin: create the first one now, or say how."""
    from insightcap.auth.accounts import count_admins
    from insightcap.auth.schema import Role
    from insightcap.cli.accounts import create_account, read_password
    from insightcap.storage.db import session_scope

    with session_scope(settings) as db:
        if count_admins(db):
            return
    if not sys.stdin.isatty():
        fail("There is no admin account yet, so nobody could sign in. Create one first:\n"
              "  insightcap user add you@example.org --role admin")
    err.print("There is no admin account yet. Create the first one (it can add the others).")
    email = typer.prompt("Admin email")
    create_account(email, Role.ADMIN, [], read_password(False))


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it private to this computer.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", parser=whole_number(
        "--port takes the port to listen on, e.g. 8000"))] = 8000,
    max_upload_gb: Annotated[float, typer.Option("--max-upload-gb", help="Largest upload accepted, in GB.")] = 4.0,
) -> None:
    """Start the web app: upload recordings, follow processing, read transcripts, edit memos, search."""
    import uvicorn

    from insightcap.web.app import create_app

    settings = get_settings()
    _ensure_an_admin(settings)
    # Held until the server stops: jobs queued in the folder are this server's, and a restore is refused.
    with holding_data_folder(settings, as_server=True):
        web_app = create_app(settings, max_upload_bytes=int(max_upload_gb * 1024**3))
        err.print(f"insightcap is running at [bold]http://{host}:{port}[/] (data: {settings.data_dir}). "
                  "Ctrl+C stops it.")
        uvicorn.run(web_app, host=host, port=port, log_level="warning")

