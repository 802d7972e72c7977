"""indexes for lists and search

Patients get their folded name keys (filled in here for every existing patient) and the
indexes that serve the name search and the review list; messages get the indexes that
serve the organization's message list, whole and by status.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clinictext.domain.name_search import NAME_KEY_CHARS, name_keys

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME_KEY = sa.String(NAME_KEY_CHARS).with_variant(
    sa.String(NAME_KEY_CHARS, collation="C"), "postgresql"
)
BATCH = 5000


def _backfill_name_keys() -> None:
    """Every existing patient's keys, computed by the same code that keeps them."""
    conn = op.get_bind()
    patients = sa.table(
        "patients",
        sa.column("id", sa.BigInteger),
        sa.column("first_name", sa.String),
        sa.column("last_name", sa.String),
        sa.column("name_key", sa.String),
        sa.column("surname_key", sa.String),
    )
    fill = (
        sa.update(patients)
        .where(patients.c.id == sa.bindparam("pid"))
        .values(name_key=sa.bindparam("nk"), surname_key=sa.bindparam("sk"))
    )
    after = 0
    while True:
        rows = conn.execute(
            sa.select(patients.c.id, patients.c.first_name, patients.c.last_name)
            .where(patients.c.id > after)
            .order_by(patients.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        keys = [(pid, *name_keys(first, last)) for pid, first, last in rows]
        conn.execute(fill, [{"pid": pid, "nk": nk, "sk": sk} for pid, nk, sk in keys])
        after = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", NAME_KEY, nullable=True))
        batch_op.add_column(sa.Column("surname_key", NAME_KEY, nullable=True))
    _backfill_name_keys()
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_index("ix_patients_org_name_key", ["organization_id", "name_key"])
        batch_op.create_index("ix_patients_org_surname_key", ["organization_id", "surname_key"])
        batch_op.create_index(
            "ix_patients_org_review",
            ["organization_id", "id"],
            sqlite_where=sa.text("review_flag IS NOT NULL"),
            postgresql_where=sa.text("review_flag IS NOT NULL"),
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_org_id", ["organization_id", "id"])
        batch_op.create_index("ix_messages_org_status", ["organization_id", "status", "id"])


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_org_status")
        batch_op.drop_index("ix_messages_org_id")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index("ix_patients_org_review")
        batch_op.drop_index("ix_patients_org_surname_key")
        batch_op.drop_index("ix_patients_org_name_key")
        batch_op.drop_column("surname_key")
        batch_op.drop_column("name_key")
