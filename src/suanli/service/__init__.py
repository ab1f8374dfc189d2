"""L5: use-cases shared by the CLI and the API."""

from suanli.service.planning import Context, context, default_site, estimate_job, estimate_notes, plan_job, read_spec

__all__ = ["Context", "context", "default_site", "estimate_job", "estimate_notes", "plan_job", "read_spec"]
