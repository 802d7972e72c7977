"""wake workers on new work

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:30:00

On PostgreSQL, a statement that writes texts due now (a send, a campaign start, a retry
queued at once) notifies the channel ``clinictext_new_work`` when its transaction
commits, and workers listening there claim them at once instead of at their next poll.
Statement-level with a transition table: one notification per statement, however many
rows, and none for the workers' own updates (claims, answers), which leave nothing due.
Texts that fall due later (scheduled, backed off) are still found by the workers' poll.
SQLite has no NOTIFY: its dispatcher keeps polling.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "clinictext_new_work"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION clinictext_notify_new_work() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (
                SELECT 1 FROM new_rows
                WHERE status IN ('scheduled', 'queued')
                  AND due_at <= clock_timestamp() + interval '1 second'
            ) THEN
                PERFORM pg_notify('{CHANNEL}', '');
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    # A trigger with a transition table takes one event: one trigger each.
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"""
            CREATE TRIGGER messages_new_work_{event.lower()}
            AFTER {event} ON messages
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION clinictext_notify_new_work()
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS messages_new_work_{event} ON messages")
    op.execute("DROP FUNCTION IF EXISTS clinictext_notify_new_work()")
