"""tenants' fair-share weights

``tenants.share_weight``: a tenant's weight in the live scheduler's fair share (``suanli
serve --fair-share``): its share of the network's capacity-hours while tenants compete is
its weight over the sum of the waiting tenants' weights. Existing tenants weigh 1, which
shares equally, as before.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite has it): a batch copy of the table would drop and rename
    # tenants, which the tokens, quotas and jobs that reference it forbid
    op.add_column("tenants", sa.Column("share_weight", sa.Float(), nullable=False, server_default="1"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # DROP COLUMN since SQLite 3.35; no table copy
        op.execute("ALTER TABLE tenants DROP COLUMN share_weight")
    else:
        op.drop_column("tenants", "share_weight")
