"""`insightcap user …`, `insightcap token …` and `insightcap audit`: accounts, API tokens and the audit
trail, managed from the terminal of the machine that holds the data (so the CLI acts as an admin).
Apart from the session commands because they act on people rather than meetings, each change
recorded in the audit log along with it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Optional

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from insightcap.auth import audit
from insightcap.auth.accounts import (
    AccountError,
    add_user,
    get_user,
    grant,
    list_users,
    revoke_program,
    set_disabled,
    set_password,
)
from insightcap.auth.passwords import WeakPassword, check_strength
from insightcap.auth.schema import PROGRAM_ROLES, Role, local_operator
from insightcap.auth.tokens import api_tokens, issue, revoke_token
from insightcap.cli.common import err, fail, out, whole_number
from insightcap.config import get_settings
from insightcap.storage.db import session_scope
from insightcap.storage.repository import NotFound, program_by_name

user_app = typer.Typer(help="Accounts that can sign in to the web app, and their role in each program.",
                       no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts (sent as `Authorization: Bearer TOKEN`).", no_args_is_help=True)

Programs = Annotated[list[str], typer.Option("--program", help="A program's name; repeat for several.")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of "
                                             "standard input (for scripts) instead of asking.")]
NewProgram = Annotated[bool, typer.Option("--new-program", help="Create the programs named that do not exist yet "
                                          "(without it, an unknown name is refused as a likely typo).")]


def read_password(from_stdin: bool) -> str:
    """From stdin for scripts, else asked twice without echo; checked for length before anything is stored."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_strength(password)
    except WeakPassword as weak:
        fail(str(weak))
    return password


@contextmanager
def _audited(action: str, target: str, detail: str = "") -> Iterator[Session]:
    """One change, committed together with its audit entry; a refusal is printed as an error, not raised."""
    try:
        with session_scope(get_settings()) as db:
            yield db
            audit.record(db, local_operator(), action, target, detail)
    except (AccountError, NotFound) as error:
        fail(str(error))


def _stored_names(db: Session, programs: list[str]) -> str:
    """The programs as stored, so the admin sees that "mentoring cohort" joined 'Mentoring cohort'."""
    return ", ".join(program_by_name(db, name).name for name in programs)


def create_account(email: str, role: Role, programs: list[str], password: str, *, new_programs: bool = False) -> None:
    with _audited("user_add", email.strip().lower(), f"{role} {', '.join(programs)}".strip()) as db:
        add_user(db, email, password, role, programs, new_programs=new_programs)
        where = f" in {_stored_names(db, programs)}" if programs and role in PROGRAM_ROLES else ""
    out.print(f"Added {email.strip().lower()} as {role}{where}.")


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The person's email; they sign in with it.")],
    role: Annotated[Role, typer.Option(help="admin: everything; facilitator: upload, edit and approve in their "
                                       "programs; member: read approved memos and search their programs.")],
    program: Programs = [],
    new_program: NewProgram = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add an account."""
    create_account(email, role, program, read_password(password_stdin), new_programs=new_program)


@user_app.command("grant")
def user_grant(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    role: Annotated[Role, typer.Option(help="facilitator or member.")],
    program: Programs,
    new_program: NewProgram = False,
) -> None:
    """Give an account a role in more programs (or change its role in them)."""
    with _audited("user_grant", email, f"{role} {', '.join(program)}") as db:
        grant(db, email, role, program, new_programs=new_program)
        names = _stored_names(db, program)
    out.print(f"{email} is now {role} in {names}.")


@user_app.command("revoke")
def user_revoke(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    program: Annotated[str, typer.Option("--program", help="The program to take the account out of.")],
) -> None:
    """Take an account out of a program."""
    with _audited("user_revoke", email, program) as db:
        revoke_program(db, email, program)
    out.print(f"{email} no longer has access to {program}.")


@user_app.command("list")
def user_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False) -> None:
    """Every account, its role and programs."""
    with session_scope(get_settings()) as db:
        users = list_users(db)
    if as_json:
        out.print_json(json.dumps([u.model_dump() for u in users]))
        return
    table = Table("Email", "Role", "Programs", "Status")
    for user in users:
        programs = ", ".join(f"{name} ({role})" for name, role in sorted(user.programs.items()))
        table.add_row(user.email, "admin" if user.is_admin else "", programs or ("all" if user.is_admin else "—"),
                      "disabled" if user.disabled else "active")
    out.print(table)


def _set_disabled(email: str, disabled: bool) -> None:
    with _audited("user_disable" if disabled else "user_enable", email) as db:
        set_disabled(db, email, disabled)


@user_app.command("disable")
def user_disable(email: Annotated[str, typer.Argument(help="The account's email.")]) -> None:
    """Stop an account from signing in; its browsers are signed out and its API tokens revoked."""
    _set_disabled(email, True)
    out.print(f"{email} is disabled: signed out everywhere, API tokens revoked.")


@user_app.command("enable")
def user_enable(email: Annotated[str, typer.Argument(help="The account's email.")]) -> None:
    """Let a disabled account sign in again (its old tokens stay revoked)."""
    _set_disabled(email, False)
    out.print(f"{email} can sign in again.")


@user_app.command("password")
def user_password(email: Annotated[str, typer.Argument(help="The account's email.")],
                  password_stdin: PasswordStdin = False) -> None:
    """Set a new password for an account (signs it out of every browser)."""
    password = read_password(password_stdin)
    with _audited("user_password", email) as db:
        set_password(db, get_user(db, email), password)
    out.print(f"The password of {email} was changed.")


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Argument(help="The account the token acts as (same access as the account).")],
    name: Annotated[str, typer.Option(help="What the token is for, to recognise it later.")] = "",
) -> None:
    """Create an API token. It is printed once, as the last line: store it like a password."""
    with _audited("token_create", email, name) as db:
        user = get_user(db, email)
        if user.disabled:
            raise AccountError(f"{email} is disabled; enable it first with `insightcap user enable {email}`.")
        secret = issue(db, user, "api", name=name)
    err.print(f"API token for {email} (shown only now; revoke it with `insightcap token revoke ID`):")
    print(secret)


@token_app.command("list")
def token_list(email: Annotated[Optional[str], typer.Argument(help="Only this account's tokens.")] = None) -> None:
    """API tokens (never their secrets): id, account, name, created, last used, revoked."""
    with session_scope(get_settings()) as db:
        try:
            user_id = get_user(db, email).id if email else None
        except AccountError as error:
            fail(str(error))
        rows = [(str(t.id), t.user.email, t.name, f"{t.created_at:%Y-%m-%d}",
                 f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
                 f"{t.revoked_at:%Y-%m-%d}" if t.revoked_at else "") for t in api_tokens(db, user_id)]
    table = Table("Id", "Account", "Name", "Created", "Last used", "Revoked")
    for row in rows:
        table.add_row(*row)
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id from `insightcap token list`.")]) -> None:
    """Revoke an API token: scripts using it get 401 from then on."""
    with session_scope(get_settings()) as db:
        revoked = revoke_token(db, token_id)
        if revoked:
            audit.record(db, local_operator(), "token_revoke", str(token_id))
    if not revoked:
        fail(f"No active token {token_id}. `insightcap token list` shows them.")
    out.print(f"Token {token_id} is revoked.")


def audit_command(
    limit: Annotated[int, typer.Option(help="How many of the latest events.", parser=whole_number(
        "--limit takes how many of the latest events to show, e.g. 20"))] = 50,
    actor: Annotated[Optional[str], typer.Option(help="Only this account's events.")] = None,
    action: Annotated[Optional[str], typer.Option(help="Only this action, e.g. export_memo or delete_session.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Who viewed, exported, edited or deleted what, newest first."""
    with session_scope(get_settings()) as db:
        entries = audit.recent(db, limit, actor, action)
    if as_json:
        out.print_json(json.dumps([e.model_dump(mode="json") for e in entries]))
        return
    # One line per event, not a table: six columns cut emails, actions and ids to "maria@examp…" in an
    # 80-column terminal, and a line is what people grep.
    for e in entries:
        fields = [f"{e.at:%Y-%m-%d %H:%M:%S} UTC", e.actor, e.action, e.target, e.detail, f"from {e.client}" if e.client else ""]
        out.print("  ".join(field for field in fields if field), markup=False, highlight=False, soft_wrap=True)
    if not entries:
        out.print("No events recorded yet.")
