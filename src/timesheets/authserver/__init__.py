"""The authorization server: tenant, keys, token endpoint, discovery."""
