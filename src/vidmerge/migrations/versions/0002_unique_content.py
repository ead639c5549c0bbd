"""One live render per content key: a partial unique index instead of a lookup index.

Two identical webhooks arriving together can then not both insert; the loser of the race
finds the winner's render (renders.accept). Failed renders stay out of the index, so the same
content can be rendered again after a failure.

Revision ID: 0002
Revises: 0001

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status != 'failed'")


def upgrade() -> None:
    op.drop_index(op.f("ix_renders_template_id_template_version_values_hash"), table_name="renders")
    op.create_index(
        "uq_renders_content",
        "renders",
        ["template_id", "template_version", "values_hash"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_renders_content", table_name="renders")
    op.create_index(
        op.f("ix_renders_template_id_template_version_values_hash"),
        "renders",
        ["template_id", "template_version", "values_hash"],
        unique=False,
    )
