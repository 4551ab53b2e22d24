"""Credentials: emails, argon2id password hashes, roles; registration."""
