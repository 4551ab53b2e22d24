"""OAuth clients: services that obtain tokens with `client_credentials`."""
