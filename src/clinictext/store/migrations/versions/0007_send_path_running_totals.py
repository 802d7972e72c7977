"""send path running totals

This month's manual spend was a sum over every staff text of the month, read on each
send while holding SQLite's write lock. It becomes a running total per organization and
quarter hour (``manual_spend``), kept by triggers on ``messages``: the database itself
adds a text's cost when it is written and takes it back when the text ends failed or
canceled, in the same transaction, whatever wrote the row (the ORM, a bulk UPDATE or a
copy by INSERT ... SELECT). There is no second code path to forget, so the total cannot
drift. The upgrade fills the totals from the messages already stored.

Two ways around row triggers, neither used by clinictext: a rebuild of ``messages`` in
SQLite's batch mode drops them (a later migration that rebuilds the table must call
``create_spend_triggers`` again; the running-total tests fail if they are missing), and
TRUNCATE skips them (empty ``manual_spend`` with it).

The frequency cap reads a patient's automated texts of the last week through a small
partial index instead of all of the patient's texts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept in step with services/eligibility.py: staff-typed kinds, billed unless the text
# ends failed or canceled.
_BILLED = (
    "{t}.direction = 'outbound' AND {t}.kind IN ('manual', 'lead') "
    "AND {t}.status NOT IN ('failed', 'canceled')"
)
# Unix time // 900, rounded down also before 1970 (SQLite's % and / truncate toward 0).
# SQLite's date functions round to milliseconds (…59.9999 becomes the next second), so
# the stored text 'YYYY-MM-DD HH:MM:SS.ffffff' is cut to whole seconds first.
_SECONDS = "CAST(strftime('%s', substr({t}.created_at, 1, 19)) AS INTEGER)"
_QUARTER = {
    "sqlite": f"(({_SECONDS} - (({_SECONDS} % 900) + 900) % 900) / 900)",
    "postgresql": "CAST(floor(extract(epoch FROM {t}.created_at) / 900) AS BIGINT)",
}
# Only a change of these columns can change what a text adds to the total.
_COLUMNS = "organization_id, direction, kind, status, cost_micros, created_at"


def _changed() -> str:
    """An update moves the total: the text starts or stops being billed, or a billed
    text's cost, time or organization changes."""
    old, new = _BILLED.format(t="OLD"), _BILLED.format(t="NEW")
    return (
        f"(({old}) <> ({new}) OR (({old}) AND (OLD.cost_micros <> NEW.cost_micros "
        "OR OLD.created_at <> NEW.created_at OR OLD.organization_id <> NEW.organization_id)))"
    )


def _sqlite_triggers() -> list[str]:
    q_old, q_new = _QUARTER["sqlite"].format(t="OLD"), _QUARTER["sqlite"].format(t="NEW")
    add = (
        "INSERT INTO manual_spend (organization_id, quarter_hour, micros) "
        f"SELECT NEW.organization_id, {q_new}, NEW.cost_micros WHERE {_BILLED.format(t='NEW')} "
        "ON CONFLICT (organization_id, quarter_hour) DO UPDATE SET micros = micros + "
        "excluded.micros;"
    )
    take = (
        "UPDATE manual_spend SET micros = micros - OLD.cost_micros "
        f"WHERE organization_id = OLD.organization_id AND quarter_hour = {q_old} "
        f"AND {_BILLED.format(t='OLD')};"
    )
    return [
        "CREATE TRIGGER tr_messages_manual_spend_insert AFTER INSERT ON messages "
        f"WHEN {_BILLED.format(t='NEW')} BEGIN {add} END",
        f"CREATE TRIGGER tr_messages_manual_spend_update AFTER UPDATE OF {_COLUMNS} "
        f"ON messages WHEN {_changed()} BEGIN {take} {add} END",
        "CREATE TRIGGER tr_messages_manual_spend_delete AFTER DELETE ON messages "
        f"WHEN {_BILLED.format(t='OLD')} BEGIN {take} END",
    ]


def _postgresql_triggers() -> list[str]:
    q_old, q_new = (_QUARTER["postgresql"].format(t=t) for t in ("OLD", "NEW"))
    function = f"""
CREATE FUNCTION messages_manual_spend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    IF {_BILLED.format(t="OLD")} THEN
      UPDATE manual_spend SET micros = micros - OLD.cost_micros
       WHERE organization_id = OLD.organization_id AND quarter_hour = {q_old};
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    IF {_BILLED.format(t="NEW")} THEN
      INSERT INTO manual_spend (organization_id, quarter_hour, micros)
      VALUES (NEW.organization_id, {q_new}, NEW.cost_micros)
      ON CONFLICT (organization_id, quarter_hour)
      DO UPDATE SET micros = manual_spend.micros + EXCLUDED.micros;
    END IF;
  END IF;
  RETURN NULL;
END
$$"""
    run = "FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION messages_manual_spend()"
    return [
        function,
        "CREATE TRIGGER tr_messages_manual_spend_insert AFTER INSERT ON messages "
        + run.format(when=_BILLED.format(t="NEW")),
        f"CREATE TRIGGER tr_messages_manual_spend_update AFTER UPDATE OF {_COLUMNS} "
        "ON messages " + run.format(when=_changed()),
        "CREATE TRIGGER tr_messages_manual_spend_delete AFTER DELETE ON messages "
        + run.format(when=_BILLED.format(t="OLD")),
    ]


def create_spend_triggers(dialect: str) -> None:
    """The triggers that keep ``manual_spend`` (also after a rebuild of ``messages``)."""
    for statement in _sqlite_triggers() if dialect == "sqlite" else _postgresql_triggers():
        op.execute(statement)


AUTOMATED_WHERE = sa.text("kind = 'automated' AND direction = 'outbound'")


def upgrade() -> None:
    op.create_table(
        "manual_spend",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("quarter_hour", sa.BigInteger(), nullable=False),
        sa.Column("micros", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_manual_spend_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "quarter_hour", name=op.f("pk_manual_spend")),
    )
    dialect = op.get_bind().dialect.name
    # Triggers first, then the backfill, in one transaction: on PostgreSQL creating the
    # triggers locks out writers of messages until the commit, so no text is missed or
    # counted twice.
    create_spend_triggers(dialect)
    quarter = _QUARTER[dialect].format(t="messages")
    op.execute(
        "INSERT INTO manual_spend (organization_id, quarter_hour, micros) "
        f"SELECT organization_id, {quarter}, SUM(cost_micros) FROM messages "
        f"WHERE {_BILLED.format(t='messages')} GROUP BY organization_id, {quarter}"
    )
    op.create_index(
        "ix_messages_automated_patient",
        "messages",
        ["organization_id", "patient_id", "due_at"],
        unique=False,
        sqlite_where=AUTOMATED_WHERE,
        postgresql_where=AUTOMATED_WHERE,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_messages_automated_patient",
        table_name="messages",
        sqlite_where=AUTOMATED_WHERE,
        postgresql_where=AUTOMATED_WHERE,
    )
    for suffix in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER tr_messages_manual_spend_{suffix}" + _on_messages())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION messages_manual_spend()")
    op.drop_table("manual_spend")


def _on_messages() -> str:
    return " ON messages" if op.get_bind().dialect.name == "postgresql" else ""
