"""Initial schema: templates, renders, segments, audit_log.

Revision ID: 0001
Revises:

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("action IN ('erase', 'purge')", name=op.f("ck_audit_log_action")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_table(
        "segments",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'rendering', 'done', 'failed')", name=op.f("ck_segments_status")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_segments")),
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("key_prefix", sa.String(length=255), nullable=False),
        sa.Column("segment_count", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('preparing', 'ready', 'failed')", name=op.f("ck_templates_status")),
        sa.PrimaryKeyConstraint("id", "version", name=op.f("pk_templates")),
    )
    op.create_table(
        "renders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=128), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("values_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("resolved", sa.JSON(), nullable=False),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("priority IN ('interactive', 'bulk')", name=op.f("ck_renders_priority")),
        sa.CheckConstraint("status IN ('queued', 'rendering', 'done', 'failed')", name=op.f("ck_renders_status")),
        sa.ForeignKeyConstraint(
            ["template_id", "template_version"],
            ["templates.id", "templates.version"],
            name=op.f("fk_renders_template_id_template_version_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renders")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_renders_idempotency_key")),
        sa.UniqueConstraint("token", name=op.f("uq_renders_token")),
    )
    op.create_index(op.f("ix_renders_external_id"), "renders", ["external_id"], unique=False)
    op.create_index(op.f("ix_renders_status_updated_at"), "renders", ["status", "updated_at"], unique=False)
    op.create_index(
        op.f("ix_renders_template_id_template_version_values_hash"),
        "renders",
        ["template_id", "template_version", "values_hash"],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_renders_template_id_template_version_values_hash"), table_name="renders")
    op.drop_index(op.f("ix_renders_status_updated_at"), table_name="renders")
    op.drop_index(op.f("ix_renders_external_id"), table_name="renders")
    op.drop_table("renders")
    op.drop_table("templates")
    op.drop_table("segments")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
