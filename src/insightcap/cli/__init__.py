"""insightcap turns a recording (or a transcript) of a peer-learning session into a debrief memo,
on this computer: process a recording or import a transcript, list sessions, show one, get its memo,
search past sessions, see a program's themes."""

# The docstring above is the command's help. The commands live by what they do (`intake`, `read`,
# `admin`, `accounts`); this module makes the one `app` of them, in the order `insightcap --help`
# lists them: a facilitator's first steps first, whatever module a command lives in.

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperArgument, TyperOption

from insightcap.cli import accounts, admin, intake, read
from insightcap.config import get_settings


def _help_shows_what_to_type() -> None:
    """Since typer 0.29 its help labels every flag `<bool>`, as if `--json true` were accepted (it is
    refused), and since 0.28 it writes a required argument `{recording}`. Facilitators copy what the
    help shows, so flags are shown bare and arguments as `RECORDING` (`[EMAIL]` when optional), as
    click and the README write them; an error names an argument the same way ("Missing argument
    'RECORDING'.", not 'recording'). Set on typer's parameter classes, as typer builds the commands:
    every command and sub-app gets it."""
    flag_blind_label = TyperOption.display_type_rich

    def value_label(option: TyperOption, ctx: typer.Context) -> str | None:
        return None if option.is_flag else flag_blind_label(option, ctx)

    def shown_name(argument: TyperArgument) -> str:
        return (argument.metavar or argument.name or "").upper() + ("..." if argument.nargs != 1 else "")

    def usage_name(argument: TyperArgument, ctx: typer.Context) -> list[str]:
        return [shown_name(argument) if argument.required else f"[{shown_name(argument)}]"]

    TyperOption.display_type_rich = value_label
    TyperArgument.get_usage_pieces = usage_name
    TyperArgument.get_error_hint = lambda argument: f"'{shown_name(argument)}'"


_help_shows_what_to_type()
app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


@app.callback()
def main(
    data_dir: Annotated[
        Optional[Path], typer.Option("--data-dir", help="Where sessions are stored (default: INSIGHTCAP_DATA_DIR or ~/.local/share/insightcap).")
    ] = None,
) -> None:
    if data_dir is not None:
        os.environ["INSIGHTCAP_DATA_DIR"] = str(data_dir.expanduser().resolve())
        get_settings.cache_clear()


app.command()(intake.process)
app.command("import")(intake.import_)
app.command()(read.sessions)
app.command()(read.show)
app.command()(read.memo)
app.command()(read.search)
app.command()(read.themes)
app.command()(read.programs)
app.command()(admin.template)
app.command()(admin.reindex)
app.command()(admin.backup)
app.command()(admin.restore)
app.command()(admin.forget)
app.command()(intake.retry)
app.command()(intake.resume)
app.command()(admin.models)
app.command("convert-whisper")(admin.convert_whisper)
app.command()(admin.serve)
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.token_app, name="token")
app.command("audit")(accounts.audit_command)
