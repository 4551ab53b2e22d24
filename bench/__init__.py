"""`make bench`: the platform on real backends, measured with wrk against its own ceiling."""
