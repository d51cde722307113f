"""What every group of commands shares, so that they all fail, print and name things alike: the two
consoles (results on standard output, errors and progress on standard error, so a script can read
the output), the one way to fail, holding the data folder, and how a session and a moment are named."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session as DbSession

    from insightcap.config import Settings
    from insightcap.storage.tables import SessionRecord

out = Console()
err = Console(stderr=True)

ProgramOption = Annotated[str | None, typer.Option(help="The program (group, cohort) the session belongs to; "
                                                        "without it, the session is in none and joins no themes.")]
SessionArgument = Annotated[str, typer.Argument(help="Session id (or its first characters).")]


def whole_number(meaning: str) -> Callable[[str | int | None], int | None]:
    """A parser for an option taking a whole number, refusing anything else with `meaning` ("--limit
    takes how many results, 1 to 100, e.g. 10"). Typer's own refusal is pydantic's "Input should be a
    valid integer, unable to parse string as an integer", which reads like a crash to a facilitator,
    and it takes "-2" where a count is meant."""

    def parse(value: str | int | None) -> int | None:
        if value is None or isinstance(value, int):
            return value  # the default, which typer passes through here too
        if not value.strip().isdecimal():
            raise typer.BadParameter(f"'{value}' is not a whole number: {meaning}.")
        return int(value)

    return parse


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code=1)


def listing(columns: dict[str, bool], rows: list[tuple[str, ...]]) -> Table:
    """A table whose ids, dates and counts are never cut or wrapped in a narrow terminal (users copy
    them into the next command); only the columns marked True, free text, fold onto more lines."""
    table = Table()
    for index, (name, folds) in enumerate(columns.items()):
        widest = max((len(row[index]) for row in rows), default=0)
        table.add_column(name, no_wrap=not folds, overflow="fold", min_width=None if folds else max(widest, len(name)))
    for row in rows:
        table.add_row(*row)
    return table


def record_in_audit_log(action: str, target: str = "", detail: str = "") -> None:
    """An audit entry by the person at this computer, whom the command line serves as administrator:
    what they read, export, back up or delete is on record, as it is for the web app's users."""
    from insightcap.auth import audit
    from insightcap.auth.schema import local_operator
    from insightcap.config import get_settings
    from insightcap.storage.db import session_scope

    with session_scope(get_settings()) as db:
        audit.record(db, local_operator(), action, target, detail)


@contextmanager
def holding_data_folder(settings: Settings, *, as_server: bool = False, when_busy: str | None = None) -> Iterator[None]:
    """Hold the data folder for the block (as its server, with `as_server`), so a restore cannot move it
    away meanwhile. While it cannot be held (a restore is replacing it, or another server runs on it),
    fail with the reason, or with `when_busy` if the command knows better what it means for the user."""
    from insightcap.storage.folder_lock import FolderBusy, serving, working

    try:
        with (serving if as_server else working)(settings.data_dir):
            yield
    except FolderBusy as busy:
        fail(when_busy or str(busy))


def session_or_fail(db: DbSession, session_ref: str) -> SessionRecord:
    """The session by id or id prefix, or an error saying how to find the right id."""
    from insightcap.storage import repository as repo

    try:
        return repo.get_session(db, session_ref)
    except repo.NotFound as error:
        fail(escape(str(error)))  # it may name sessions, whose titles are the user's text


def theme_titles(db: DbSession, session_id: str) -> dict[int, str]:
    """Topic index → the title the memo gives that theme (the generator may have written it), in
    the memo's order, so the summary, `show` and the memo call a theme by one name. Topics the memo
    has no theme for (nothing but chatter or a commitment) are not in it."""
    from insightcap.memo.schema import MemoDraft
    from insightcap.storage import repository as repo

    draft = repo.load_output(db, session_id, "memo", MemoDraft)
    return {theme.topic_index: theme.title for theme in draft.themes} if draft else {}


def clock(seconds: float) -> str:
    """Moments and lengths exactly as the memo and the web app write them (truncated to the second),
    so a quote found here is at the same time there."""
    from insightcap.memo.render import format_timestamp

    return format_timestamp(seconds)
