"""Template versions can be deactivated, activated again and deleted.

`state` is `active` (new renders may use it), `inactive` (uploaded or set aside: no new renders)
or `deleted` (not listed, no new renders; renders made from it keep working until they are
erased or expire, so its bundle and shared segments stay).

Revision ID: 0004
Revises: 0003

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch copy of `templates` would have to drop the table that renders
    # point at. SQLite gets no CHECK this way (it cannot add one to a table); PostgreSQL does.
    op.add_column("templates", sa.Column("state", sa.String(length=16), server_default="active", nullable=False))
    if op.get_bind().dialect.name != "sqlite":
        op.create_check_constraint(
            op.f("ck_templates_state"), "templates", "state IN ('active', 'inactive', 'deleted')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_templates_state"), "templates", type_="check")
    op.drop_column("templates", "state")
