"""Checks of deploy/ (image, Compose, Kubernetes) against the code, without Docker or a cluster."""
