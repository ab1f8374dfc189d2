"""job dependencies, and usage by job

``jobs.depends_on``: the ids of the jobs that must succeed before this one starts (the
spec's ``depends_on``, ids or names, resolved when it was submitted). Existing rows have
none (NULL), which means no dependency. ``ix_usage_job``: a job listing sums each listed
job's metered runs (cost and carbon so far) from the index, not a scan of every run.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("depends_on", sa.JSON(), nullable=True))
    op.create_index("ix_usage_job", "usage", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_usage_job", table_name="usage")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("depends_on")
