"""Signing keys and the JWKS."""
