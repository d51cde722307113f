"""Alembic environment: runs migrations on the URL given by insightcap.storage.db."""

from alembic import context
from sqlalchemy import create_engine

import insightcap.storage.account_tables
import insightcap.storage.search_tables  # noqa: F401
from insightcap.storage.tables import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as connection:
        # batch mode: SQLite cannot ALTER most things in place.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
