"""an index for a tenant's job listing pages

``GET /v1/jobs`` pages a tenant's jobs newest first by ``seq`` (keyset: ``seq < cursor``).
With ``(tenant_id, seq)`` each page reads its own rows from the index, at any depth; the
``(tenant_id, state)`` index could only hand over every row of the tenant to be sorted.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_tenant_seq", "jobs", ["tenant_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_jobs_tenant_seq", table_name="jobs")
