"""CSV campaigns: `campaigns`, their `campaign_rows`, and the campaign a render was made for.

Revision ID: 0005
Revises: 0004

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("renders", sa.Column("campaign_id", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_renders_campaign_id"), "renders", ["campaign_id"])
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=128), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("uploads", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("launched", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id", "template_version"],
            ["templates.id", "templates.version"],
            name=op.f("fk_campaigns_template_id_template_version_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("source_hash", name=op.f("uq_campaigns_source_hash")),
    )
    op.create_table(
        "campaign_rows",
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("upload", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("values_hash", sa.String(length=64), nullable=True),
        sa.Column("resolved", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("render_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", "seq", name=op.f("pk_campaign_rows")),
    )
    op.create_index(op.f("ix_campaign_rows_campaign_id_external_id"), "campaign_rows", ["campaign_id", "external_id"])
    op.create_index(op.f("ix_campaign_rows_render_id"), "campaign_rows", ["render_id"])


def downgrade() -> None:
    op.drop_table("campaign_rows")
    op.drop_table("campaigns")
    op.drop_index(op.f("ix_renders_campaign_id"), table_name="renders")
    with op.batch_alter_table("renders") as batch:  # SQLite before 3.35 cannot drop a column in place
        batch.drop_column("campaign_id")
