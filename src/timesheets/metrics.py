"""The Prometheus metrics the services export at `/metrics` (prometheus-client).

Labels stay bounded: route templates (never raw paths), grant types, registered client
ids, and fixed reason words.
"""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "timesheets_http_requests_total",
    "HTTP requests answered, by service, route template, method and status.",
    ["service", "route", "method", "status"],
)
LATENCY = Histogram(
    "timesheets_http_request_duration_seconds",
    "Time from a request's start to its last response byte, by service and route.",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
TOKENS_ISSUED = Counter(
    "timesheets_tokens_issued_total",
    "Access tokens issued by the token endpoint, by grant type and client.",
    ["grant_type", "client_id"],
)
AUTHENTICATION_FAILURES = Counter(
    "timesheets_client_authentication_failures_total",
    "Failed client authentications at the token endpoints, by reason.",
    ["reason"],
)
JWKS_REFRESHES = Counter(
    "timesheets_jwks_refreshes_total",
    "Fetches of the issuer's JWKS by a resource server, by outcome (fetched, failed).",
    ["outcome"],
)
IMPORT_ROWS = Counter(
    "timesheets_import_rows_total",
    "Entries received by POST /timesheets/upload, by outcome (created, exists, rejected).",
    ["outcome"],
)


@functools.lru_cache(maxsize=4096)
def child(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, looked up once: `labels()` takes a lock and builds a key
    on every call, which shows on the token and write hot paths."""
    return metric.labels(*values)
