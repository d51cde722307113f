"""Opening the database: SQLite in WAL mode with foreign keys on, schema brought up to date by Alembic."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

import insightcap.storage.account_tables
import insightcap.storage.search_tables  # noqa: F401 - registers the search and theme tables on Base.metadata
from insightcap.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web app read while the worker writes; foreign keys make deletes cascade.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def _sqlite_functions(dbapi_connection, _record) -> None:
    # SQLite's lower() folds ASCII only; search compares speaker names with folded() instead.
    dbapi_connection.create_function("folded", 1, folded, deterministic=True)


def folded(name: str | None) -> str | None:
    """`name` lower-cased and without accents, so that "tomas" finds "Tomás" (search's speaker filter)."""
    if name is None:
        return None
    return "".join(char for char in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(char))


def _migrate(database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url)
    command.upgrade(config, "head")


@lru_cache(maxsize=4)
def get_engine(database_url: str) -> Engine:
    engine = create_engine(database_url, connect_args={"check_same_thread": False, "timeout": 30})
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", _sqlite_functions)
    _migrate(database_url)
    return engine


def engine_for(settings: Settings) -> Engine:
    settings.ensure_dirs()
    return get_engine(settings.database_url)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back (nothing half-saved) on error."""
    factory = sessionmaker(bind=engine_for(settings), expire_on_commit=False)
    with factory() as db:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise
