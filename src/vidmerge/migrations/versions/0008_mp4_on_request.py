"""A render's MP4 is assembled on request and kept until `mp4_until` (NULL: kept, or none made).

Revision ID: 0008
Revises: 0007

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("renders", sa.Column("mp4_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_renders_mp4_until"), "renders", ["mp4_until"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_renders_mp4_until"), table_name="renders")
    with op.batch_alter_table("renders") as batch:  # SQLite before 3.35 cannot drop a column in place
        batch.drop_column("mp4_until")
