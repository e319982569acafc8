"""The import job: reads another tool's export and uploads it exactly once."""
