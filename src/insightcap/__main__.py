"""`python -m insightcap` is the same as the `insightcap` command."""

from insightcap.cli import app

app(prog_name="insightcap")
