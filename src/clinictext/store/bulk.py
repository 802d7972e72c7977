"""Many rows written in few statements, built once: the batch paths (a worker's answers,
a batch of webhooks, a sent text with its rows) write through these.

On PostgreSQL each statement is a round trip, and psycopg sends an executemany as one
statement a row; here rows go as arrays, one a column, or several tables in one ``WITH``.
On SQLite, in-process, a statement costs no round trip and an executemany is the cheap
form. SQLAlchemy builds either; which one, and the array plumbing, is written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


class InsertMany:
    """Many rows into ``table`` in one ``INSERT ... RETURNING id`` (a few multi-row
    statements for a large batch), built once; ``run`` returns the new ids in the order
    the rows were given.

    On PostgreSQL SQLAlchemy correlates the returned rows with the rows given
    (``sort_by_parameter_order``). On SQLite it cannot, and would insert one row at a
    time instead; it need not: in a transaction that holds the write lock, a multi-row
    INSERT gives its rows ascending ids in the order given, so the ids sorted are in order.
    """

    def __init__(self, table: Table) -> None:
        self.any_order = insert(table).returning(table.c.id)
        self.in_order = insert(table).returning(table.c.id, sort_by_parameter_order=True)

    def run(self, connection: Connection, rows: list[dict[str, Any]]) -> list[int]:
        if connection.dialect.name == "sqlite":
            return sorted(connection.execute(self.any_order, rows).scalars())
        return list(connection.execute(self.in_order, rows).scalars())


class InsertChain:
    """A new row of ``head`` and, with it, one row in each of ``tails``: a table, the
    column that names the new row's id, and the columns its row gives. The head's row
    gives every column but its id; each tail's, its listed columns but the naming one.

    On PostgreSQL all go in one statement, the tails' INSERTs reading the new id from
    the head's in a ``WITH``: one round trip instead of one a table, which on the send
    path was a third of its statements. Elsewhere (SQLite, in-process, where a statement
    costs no round trip) each is its own INSERT. Both are built once.
    """

    def __init__(self, head: Table, tails: Sequence[tuple[Table, str, Sequence[str]]]) -> None:
        self.tails = [(table, link) for table, link, _ in tails]
        self._head = insert(head).returning(head.c.id)
        self._tails = [insert(table) for table, _, _ in tails]
        new = (
            insert(head)
            .values(
                {c.key: bindparam(f"h_{c.key}", type_=c.type) for c in head.c if not c.primary_key}
            )
            .returning(head.c.id)
            .cte("new_row")
        )
        written = []
        for n, (table, link, columns) in enumerate(tails):
            values = [
                new.c.id if key == link else bindparam(f"t{n}_{key}", type_=table.c[key].type)
                for key in columns
            ]
            written.append(
                insert(table).from_select(list(columns), select(*values)).cte(f"tail_{n}")
            )
        self._together = select(new.c.id).add_cte(*written)

    def run(
        self, connection: Connection, row: dict[str, Any], tail_rows: Sequence[dict[str, Any]]
    ) -> int:
        """Insert ``row`` and ``tail_rows`` (one a tail, in order); the new row's id."""
        if connection.dialect.name != "postgresql":
            new_id: int = connection.execute(self._head, row).scalar_one()
            for (_, link), stmt, tail in zip(self.tails, self._tails, tail_rows, strict=True):
                connection.execute(stmt, {**tail, link: new_id})
            return new_id
        params = {f"h_{key}": value for key, value in row.items()}
        for n, tail in enumerate(tail_rows):
            params.update({f"t{n}_{key}": value for key, value in tail.items()})
        new_id = connection.execute(self._together, params).scalar_one()
        return new_id


def _unnested(table: Table, columns: Sequence[str]) -> Any:
    """``unnest(:c_a, :c_b, …) WITH ORDINALITY AS v(a, b, …, ordinality)``: one array
    parameter per column, typed as the column."""
    arrays = [bindparam(f"c_{c}", type_=ARRAY(table.c[c].type)) for c in columns]
    return (
        func.unnest(*arrays)
        .table_valued(*columns, with_ordinality="ordinality")
        .render_derived(name="v")
    )


def _arrays(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {f"c_{c}": [row[c] for row in rows] for c in columns}


class InsertRows:
    """Many rows of ``columns`` into ``table``, in the order given.

    On PostgreSQL one ``INSERT … SELECT FROM unnest(…)`` with an array a column: psycopg
    sends an executemany as one statement a row, which cost the client twice the CPU and
    the server a statement each. Elsewhere (SQLite, in-process) an executemany. Run
    through the session, so pending changes are flushed first as for any statement.
    """

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self.each = insert(table)
        rows = _unnested(table, self.columns)
        self.together = insert(table).from_select(
            list(self.columns),
            select(*[rows.c[c] for c in self.columns]).order_by(rows.c.ordinality),
        )

    def run(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if session.get_bind().dialect.name != "postgresql":
            session.execute(self.each, list(rows))
            return
        session.execute(self.together, _arrays(self.columns, rows))


class UpdateRows:
    """Many rows of ``table``, each found by its ``key`` and given its own values of
    ``columns`` (and all of them ``constant``): as ``InsertRows``, one ``UPDATE … FROM
    unnest(…)`` on PostgreSQL and an executemany elsewhere. A key given twice is updated
    once, by either row: give each once."""

    def __init__(
        self,
        table: Table,
        key: str,
        columns: Sequence[str],
        constant: dict[str, Any] | None = None,
    ) -> None:
        self.names = (key, *columns)
        fixed = constant or {}
        self.each = (
            update(table)
            .where(table.c[key] == bindparam(f"c_{key}"))
            .values({**{c: bindparam(f"c_{c}") for c in columns}, **fixed})
        )
        rows = _unnested(table, self.names)
        self.together = (
            update(table)
            .where(table.c[key] == rows.c[key])
            .values({**{c: rows.c[c] for c in columns}, **fixed})
        )

    def run(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if session.get_bind().dialect.name != "postgresql":
            session.execute(self.each, [{f"c_{c}": row[c] for c in self.names} for row in rows])
            return
        session.execute(self.together, _arrays(self.names, rows))
