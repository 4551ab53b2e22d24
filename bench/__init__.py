"""`make bench`: the platform measured with wrk, against the stack's own ceiling."""
