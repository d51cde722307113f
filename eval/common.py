"""What every eval command shares: the --data argument, a readable table, and the figures file.

Each command prints a table, writes its figures to eval/results/<name>.json and prints those figures
as one JSON object on its last line, so scripts can read the result without parsing the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "eval"


def argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="a folder laid out like shared/eval/ (default: %(default)s)",
    )
    return parser


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{value:.3f}" if isinstance(value, float) else str(value) for value in row))
    Console(stderr=False, width=160).print(table)


def report(name: str, figures: dict[str, Any]) -> None:
    """Write the figures to eval/results/<name>.json and print them as the last line."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    record = {
        "figures": figures,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": f"{platform.machine()} {platform.processor() or ''} cpus={__import__('os').cpu_count()}",
    }
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures), flush=True)
