"""quotas in normalised capacity

``quotas.capacity_hours``: a tenant's limit per period in reference-accelerator-equivalent
hours (H800-equivalent in the packaged catalogue; :mod:`suanli.capacity` values each type),
beside the accelerator-hour limit. Existing quotas have none (NULL), which means no
capacity limit: they bind exactly as before.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quotas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capacity_hours", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quotas", schema=None) as batch_op:
        batch_op.drop_column("capacity_hours")
