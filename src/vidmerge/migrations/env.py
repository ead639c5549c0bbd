"""Alembic environment: runs vidmerge's migrations on the connection `Database.migrate` passes.

Used programmatically (see vidmerge.records.alembic_config). To write a new revision:

    alembic -c src/vidmerge/migrations/alembic.ini -x url=sqlite:///dev.db revision \
        --autogenerate -m "what changed"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from vidmerge.records import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url", "")


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as fresh:
        _run(fresh)


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
