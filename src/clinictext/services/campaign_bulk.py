"""Writing a campaign's rows: a hundred thousand texts, events, commlogs and recipients.

Why not SQLAlchemy's executemany: for each row it builds the parameters and runs every
value through its type (a SQLite timestamp is formatted in Python, one value at a time), a
few seconds for 100,000 rows before the database does any work. Here each value is bound by
the column's own type too (so what is stored is what the ORM would store), but a timestamp
is formatted once for the many rows that share it (a campaign's texts are all created at
the same moment and due at a few), and the rows go to the database driver in one call:
SQLite's executemany, PostgreSQL's COPY. Both run on the session's connection, inside its
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import JSON, Table, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from clinictext.store.types import UTCDateTime


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` new ids for ``table``, so its rows and the rows that refer to them can be
    inserted without asking for each id back.

    PostgreSQL: from the id's own sequence, as an INSERT would take them. SQLite: after the
    highest id ever used (AUTOINCREMENT's ``sqlite_sequence``); safe because this write
    transaction holds SQLite's one write lock from its BEGIN (``store.db``) until it commits.
    """
    if count == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": table.name, "n": count},
            )
        )
    top = session.scalar(
        text(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = :t), 0), "
            f"coalesce((SELECT max(id) FROM {table.name}), 0))"
        ),
        {"t": table.name},
    )
    first = int(top or 0) + 1
    return list(range(first, first + count))


Bind = Callable[[Any], Any]


def _binders(conn: Connection, table: Table, columns: Sequence[str]) -> list[Bind | None]:
    """How each column's values are bound, as SQLAlchemy binds them; None: as they are."""
    dialect = conn.dialect
    out: list[Bind | None] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, JSON):
            out.append(lambda v: None if v is None else json.dumps(v))
            continue
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None and isinstance(column_type, UTCDateTime):
            cache: dict[Any, Any] = {}

            def once(value: Any, process: Bind = process, cache: dict[Any, Any] = cache) -> Any:
                found = cache.get(value, cache)
                if found is cache:
                    found = cache[value] = process(value)
                return found

            process = once
        out.append(process)
    return out


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT ``rows`` (values in the order of ``columns``) into ``table`` in one call."""
    if not rows:
        return
    conn = session.connection()
    binders = [(n, b) for n, b in enumerate(_binders(conn, table, columns)) if b is not None]
    values: list[tuple[Any, ...]] = []
    for row in rows:
        bound = list(row)
        for n, bind in binders:
            bound[n] = bind(bound[n])
        values.append(tuple(bound))
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)
