"""One render per customer request: content is shared underneath, never records or links.

- Renders with equal values are separate records now; the content key is a plain index (which
  renders share a video's content), no longer unique.
- `render_segments` lists each render's personalized segments, so erasure deletes a segment only
  when no other render references it.
- `idempotency_keys` replaces `renders.idempotency_key`: a key belongs to the calling credential
  and to the hash of the request body, and expires after 24 h; it outlives an erased render, so a
  replayed request does not bring the render back.

Revision ID: 0003
Revises: 0002

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("uq_renders_content", table_name="renders")
    op.create_index("ix_renders_content", "renders", ["template_id", "template_version", "values_hash"])
    with op.batch_alter_table("renders") as batch:  # SQLite: the table is copied without the column
        batch.drop_constraint("uq_renders_idempotency_key", type_="unique")
        batch.drop_column("idempotency_key")
    op.create_table(
        "render_segments",
        sa.Column("render_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("render_id", "key", name=op.f("pk_render_segments")),
    )
    op.create_index(op.f("ix_render_segments_key"), "render_segments", ["key"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("render_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])


def downgrade() -> None:
    shared = op.get_bind().execute(sa.text(
        "SELECT COUNT(*) FROM (SELECT 1 FROM renders WHERE status != 'failed' "
        "GROUP BY template_id, template_version, values_hash HAVING COUNT(*) > 1) AS shared"
    )).scalar()  # fmt: skip
    if shared:  # 0002 allowed one live render per content: which customer's record would go?
        raise RuntimeError(
            f"cannot downgrade below 0003: {shared} content key(s) are shared by several customers' renders; "
            "erase or expire those renders first"
        )
    op.drop_table("idempotency_keys")
    op.drop_table("render_segments")
    with op.batch_alter_table("renders") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
        batch.create_unique_constraint("uq_renders_idempotency_key", ["idempotency_key"])
    op.drop_index("ix_renders_content", table_name="renders")
    live = sa.text("status != 'failed'")
    op.create_index(
        "uq_renders_content",
        "renders",
        ["template_id", "template_version", "values_hash"],
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )
