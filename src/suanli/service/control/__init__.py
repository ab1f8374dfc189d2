"""The control plane's use-cases: jobs, agents, tenants, quotas, the live scheduling cycle."""
