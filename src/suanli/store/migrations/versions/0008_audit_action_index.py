"""the audit log by action

``ix_audit_action_at``: the dashboard's history (``GET /v1/history``) rebuilds what each site
offered over time from the ``site.register``, ``site.down`` and ``site.up`` entries; without
this index it read the whole audit log, which grows by one entry per submission.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_action_at", "audit", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_action_at", table_name="audit")
