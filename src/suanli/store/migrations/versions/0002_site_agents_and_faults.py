"""site agents and executor faults

The agent holding each site's lease (``sites.agent_id``, ``sites.agent_token_id``), the
site's executor faults (``faults`` in a row, the last ``fault_message`` and ``fault_at``,
``degraded_until``) and each job's (``jobs.start_faults``). Existing rows get no agent
(older agents are known by their token) and no faults.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("agent_token_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("faults", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("fault_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("fault_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("degraded_until", sa.Float(), nullable=True))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("start_faults", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("start_faults")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("degraded_until")
        batch_op.drop_column("fault_at")
        batch_op.drop_column("fault_message")
        batch_op.drop_column("faults")
        batch_op.drop_column("agent_token_id")
        batch_op.drop_column("agent_id")
