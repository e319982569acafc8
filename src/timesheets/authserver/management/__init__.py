"""The management API (`/api/v2/`): the tenant's rules over HTTP, for scripts and tools."""
