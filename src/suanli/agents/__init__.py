"""L4: site agents' adapters: executors that run jobs on a site's own engine."""
