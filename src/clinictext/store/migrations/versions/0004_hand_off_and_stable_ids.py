"""hand-off time, ids never reused on SQLite

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import clinictext.store.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose surrogate id SQLite must never hand out twice (AUTOINCREMENT). Parents first.
TABLES_WITH_IDS = [
    "organizations",
    "locations",
    "sender_numbers",
    "patients",
    "leads",
    "lead_stage_history",
    "consent_events",
    "messages",
    "message_events",
    "commlogs",
    "api_keys",
    "audit_events",
    "provider_attempts",
    "connector_errors",
    "parked_callbacks",
]


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("handed_at", clinictext.store.types.UTCDateTime(timezone=True))
        )
    if op.get_bind().dialect.name == "sqlite":
        # Rebuild each table as AUTOINCREMENT (the env turns foreign keys off meanwhile).
        for table in TABLES_WITH_IDS:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("handed_at")
