"""The group-commit writer's metrics, exported by the API only (prometheus-client).

Unlabelled histograms have samples from the moment they are defined, so they live here,
imported by the writer, rather than beside the metrics both services share.
"""

from __future__ import annotations

from prometheus_client import Histogram

WRITES_PER_TRANSACTION = Histogram(
    "timesheets_api_writes_per_transaction",
    "Writes (creates, uploads, deletions, decisions) answered by each transaction of the "
    "API's group-commit writer, refused ones included.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
WAL_SYNC = Histogram(
    "timesheets_api_wal_sync_seconds",
    "Time the API's writer took to sync SQLite's WAL after a transaction, before answering.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
