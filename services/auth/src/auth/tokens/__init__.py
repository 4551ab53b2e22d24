"""The OAuth 2 token endpoint: access tokens, refresh-token families, logout."""
