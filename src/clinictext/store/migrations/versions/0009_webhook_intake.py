"""webhook intake: nothing to change

Webhooks are recorded where they land (messages, parked callbacks), by a group commit
that answers each only once committed (``services.webhook_batch_writer``); an intake
table applied later would answer a patient's STOP before it took effect. This revision
keeps its place in the chain.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:30:00
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
