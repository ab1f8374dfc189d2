"""submitted spec hashes and token prefixes

``jobs.spec_hash``: the SHA-256 of each job's spec as it was submitted (before relative
times were pinned), so an idempotency key reused with another spec is refused (409) while a
retry of the same body still returns the first job. ``tokens.prefix``: a token's first
characters, shown by ``suanli admin tokens`` and accepted by ``suanli admin revoke-token``.

Rows stored before this migration get neither: their jobs' keys match any spec (as they
did), and their tokens are listed and revoked by id.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spec_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prefix", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("prefix")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("spec_hash")
