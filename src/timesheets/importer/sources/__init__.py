"""Readers of time-tracking exports, one module per format; each yields SourceRow values."""
