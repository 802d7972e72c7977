"""templates, appointments, rules, campaigns

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import clinictext.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "templates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=14), nullable=False),
        sa.Column("language", sa.String(length=12), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("created_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_templates_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.create_index(
            "uq_templates_org_name",
            ["organization_id", "name"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("send_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_campaigns_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"], ["templates.id"], name=op.f("fk_campaigns_template_id_templates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_org", ["organization_id", "id"], unique=False)

    op.create_table(
        "rules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=14), nullable=False),
        sa.Column("minutes_before", sa.Integer(), nullable=False),
        sa.Column("do_not_send_within_minutes", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_rules_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"], ["templates.id"], name=op.f("fk_rules_template_id_templates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.create_index("ix_rules_org", ["organization_id", "id"], unique=False)

    op.create_table(
        "appointments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("patient_id", sa.BigInteger(), nullable=False),
        sa.Column("location_id", sa.BigInteger(), nullable=True),
        sa.Column("provider_name", sa.String(length=200), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("starts_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("confirm_code", sa.String(length=8), nullable=False),
        sa.Column("confirmed_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmed_via", sa.String(length=10), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_appointments_location_id_locations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_appointments_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_appointments_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appointments_org_patient",
            ["organization_id", "patient_id", "starts_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_appointments_org_starts", ["organization_id", "starts_at"], unique=False
        )
        batch_op.create_index(
            "uq_appointments_org_confirm_code",
            ["organization_id", "confirm_code"],
            unique=True,
            sqlite_where=sa.text("status IN ('scheduled', 'confirmed')"),
            postgresql_where=sa.text("status IN ('scheduled', 'confirmed')"),
        )
        batch_op.create_index(
            "uq_appointments_org_external_id",
            ["organization_id", "external_id"],
            unique=True,
            sqlite_where=sa.text("external_id IS NOT NULL"),
            postgresql_where=sa.text("external_id IS NOT NULL"),
        )

    op.create_table(
        "appointment_texts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_texts_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_appointment_texts_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_appointment_texts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["rules.id"],
            name=op.f("fk_appointment_texts_rule_id_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_texts")),
        sa.UniqueConstraint(
            "appointment_id", "rule_id", name="uq_appointment_texts_appointment_rule"
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("appointment_texts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appointment_texts_due",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("state = 'planned'"),
            postgresql_where=sa.text("state = 'planned'"),
        )
        batch_op.create_index("ix_appointment_texts_rule", ["rule_id"], unique=False)

    op.create_table(
        "campaign_recipients",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("patient_id", sa.BigInteger(), nullable=False),
        sa.Column("skip_reason", sa.String(length=20), nullable=True),
        sa.Column("skip_checks", sa.JSON(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("planned_at", clinictext.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_recipients_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_campaign_recipients_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_campaign_recipients_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_campaign_recipients_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_recipients")),
        sa.UniqueConstraint(
            "campaign_id", "patient_id", name="uq_campaign_recipients_campaign_patient"
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_recipients_campaign", ["campaign_id", "id"], unique=False
        )

    # Plain ALTER TABLE ADD COLUMN: on SQLite a batch operation would copy the table and
    # lose its AUTOINCREMENT; nullable columns without foreign keys need no copy anywhere.
    op.add_column("messages", sa.Column("appointment_id", sa.BigInteger(), nullable=True))
    op.add_column("messages", sa.Column("rule_id", sa.BigInteger(), nullable=True))
    op.add_column("messages", sa.Column("campaign_id", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_messages_campaign",
        "messages",
        ["campaign_id", "status"],
        unique=False,
        sqlite_where=sa.text("campaign_id IS NOT NULL"),
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
    )
    op.create_index(
        "uq_messages_appointment_rule",
        "messages",
        ["appointment_id", "rule_id"],
        unique=True,
        sqlite_where=sa.text("appointment_id IS NOT NULL AND rule_id IS NOT NULL"),
        postgresql_where=sa.text("appointment_id IS NOT NULL AND rule_id IS NOT NULL"),
    )
    op.add_column(
        "organizations",
        sa.Column("lead_close_on_booking", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column("organizations", sa.Column("lead_inactivity_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("organizations", "lead_inactivity_days")
    op.drop_column("organizations", "lead_close_on_booking")
    op.drop_index("uq_messages_appointment_rule", table_name="messages")
    op.drop_index("ix_messages_campaign", table_name="messages")
    op.drop_column("messages", "campaign_id")
    op.drop_column("messages", "rule_id")
    op.drop_column("messages", "appointment_id")

    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_recipients_campaign")

    op.drop_table("campaign_recipients")
    with op.batch_alter_table("appointment_texts", schema=None) as batch_op:
        batch_op.drop_index("ix_appointment_texts_rule")
        batch_op.drop_index(
            "ix_appointment_texts_due",
            sqlite_where=sa.text("state = 'planned'"),
            postgresql_where=sa.text("state = 'planned'"),
        )

    op.drop_table("appointment_texts")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_appointments_org_external_id",
            sqlite_where=sa.text("external_id IS NOT NULL"),
            postgresql_where=sa.text("external_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_appointments_org_confirm_code",
            sqlite_where=sa.text("status IN ('scheduled', 'confirmed')"),
            postgresql_where=sa.text("status IN ('scheduled', 'confirmed')"),
        )
        batch_op.drop_index("ix_appointments_org_starts")
        batch_op.drop_index("ix_appointments_org_patient")

    op.drop_table("appointments")
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.drop_index("ix_rules_org")

    op.drop_table("rules")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_org")

    op.drop_table("campaigns")
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_templates_org_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.drop_table("templates")
