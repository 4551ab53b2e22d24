"""The authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636), and its sign-in pages."""
