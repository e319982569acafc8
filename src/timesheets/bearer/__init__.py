"""Bearer-token verification for any resource server: discovery, JWKS cache, strict JWS
parsing, RFC 9068 claim checks, scope checks and RFC 6750 errors."""
