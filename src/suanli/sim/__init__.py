"""L4: the discrete-event simulator, driving the scheduler with a simulated clock."""
