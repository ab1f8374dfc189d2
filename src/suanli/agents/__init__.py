"""L4: site agents: the agent loop (:mod:`suanli.agents.runner`) and the executors that
run jobs on a site's own engine (local processes, Ray, Slurm)."""
