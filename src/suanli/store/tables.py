"""The control plane's SQL schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are seconds since the Unix epoch (UTC) as floats; JSON columns hold the spec,
reasons and estimates. Every row-bearing table has ``schema_version`` so a later release
can tell old rows from new. Alembic migrations in ``migrations/versions`` create exactly
this schema (a test checks they agree).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1
"""Version of the rows this release writes."""

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("schema_version", Integer, nullable=False, default=SCHEMA_VERSION),
    # the tenant's weight in the live fair share (suanli serve --fair-share; migration 0009)
    Column("share_weight", Float, nullable=False, server_default="1"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=True),
    Column("site", String(64), nullable=True),
    Column("name", String(128), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    # the token's first characters, shown in listings and accepted by revoke-token (migration 0003)
    Column("prefix", String(16), nullable=True),
)

quotas = Table(
    "quotas",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("family", String(32), primary_key=True),
    Column("accelerator_hours", Float, nullable=True),
    Column("period_h", Float, nullable=False),
    Column("max_concurrent", Integer, nullable=True),
    Column("updated_at", Float, nullable=False),
    # normalised capacity per period, reference-equivalent hours (suanli.capacity; migration 0007)
    Column("capacity_hours", Float, nullable=True),
)

filings = Table(
    "filings",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("model", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("filing_number", String(128), nullable=True),
    Column("note", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float, nullable=True),
    Column("decided_by", String(32), nullable=True),
    Index("ix_filings_tenant_model", "tenant_id", "model"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("idempotency_key", String(128), nullable=True),
    # SHA-256 of the spec as submitted, before times were pinned: a reused idempotency key
    # with another spec is refused (migration 0003; None for jobs stored before it)
    Column("spec_hash", String(64), nullable=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("count", Integer, nullable=False),
    # feasible (site, accelerator) placements at ``count``: duration and footprint rates
    Column("options", JSON, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("site", String(64), nullable=True),
    Column("accelerator", String(64), nullable=True),
    Column("attempt", Integer, nullable=False, default=0),
    Column("fencing_token", Integer, nullable=False, default=0),
    Column("checkpoint", String(4096), nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("message", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("placed_at", Float, nullable=True),
    Column("run_started_at", Float, nullable=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("log_chars", BigInteger, nullable=False, default=0),
    Column("schema_version", Integer, nullable=False, default=SCHEMA_VERSION),
    # executor faults: starts the sites' engines refused or failed (migration 0002)
    Column("start_faults", Integer, nullable=False, default=0, server_default="0"),
    # the leader's forecast: {start, finish, start_p90, finish_p90, computed_at, method} (migration 0004)
    Column("eta", JSON, nullable=True),
    # the ids of the jobs that must succeed before this one starts, resolved at submission
    # from the spec's depends_on (migration 0006; None: no dependency)
    Column("depends_on", JSON, nullable=True),
    UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idempotency"),
    Index("ix_jobs_state", "state"),
    Index("ix_jobs_tenant_state", "tenant_id", "state"),
    Index("ix_jobs_site_state", "site", "state"),
    Index("ix_jobs_tenant_seq", "tenant_id", "seq"),  # a tenant's listing pages (migration 0005)
)

job_logs = Table(
    "job_logs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", String(32), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_job_logs_job_offset", "job_id", "offset"),
)

usage = Table(
    "usage",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant_id", String(32), nullable=False),
    Column("job_id", String(32), nullable=False),
    Column("site", String(64), nullable=False),
    Column("accelerator", String(64), nullable=False),
    Column("family", String(32), nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("accelerator_s", Float, nullable=False),
    Column("energy_kwh", Float, nullable=False),
    Column("carbon_kg", Float, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Index("ix_usage_tenant_end", "tenant_id", "end_s"),
    Index("ix_usage_job", "job_id"),  # a listing's cost and carbon so far (migration 0006)
)

sites = Table(
    "sites",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("executor", String(16), nullable=False),
    Column("inventory", JSON, nullable=False),
    Column("heartbeat_interval_s", Float, nullable=False),
    Column("registered_at", Float, nullable=False),
    Column("last_heartbeat_at", Float, nullable=True),
    Column("state", String(8), nullable=False),
    Column("schema_version", Integer, nullable=False, default=SCHEMA_VERSION),
    # the agent holding the site's lease (migration 0002): its own name and its token
    Column("agent_id", String(128), nullable=True),
    Column("agent_token_id", String(32), nullable=True),
    # executor faults in a row, the last one, and until when the scheduler avoids the site
    Column("faults", Integer, nullable=False, default=0, server_default="0"),
    Column("fault_message", Text, nullable=True),
    Column("fault_at", Float, nullable=True),
    Column("degraded_until", Float, nullable=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("tenant_id", String(32), nullable=True),
    Column("action", String(64), nullable=False),
    Column("object", String(128), nullable=False),
    Column("remote", String(128), nullable=True),
    Column("detail", JSON, nullable=True),
    Index("ix_audit_at", "at"),
    Index("ix_audit_action_at", "action", "at"),  # the site entries the history reads (migration 0008)
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("term", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=False),
)
"""Named leases: ``scheduler`` is the leader lease (exactly one replica schedules)."""
