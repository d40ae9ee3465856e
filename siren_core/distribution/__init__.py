"""Distributing periods: the heartbeat's runner (claim, pool, calculator, allocations,
obligations, next period), previews and pausing."""
