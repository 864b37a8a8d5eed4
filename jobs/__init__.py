"""RQ jobs. Each job opens its own unit of work, commits once, and is safe to run twice."""
