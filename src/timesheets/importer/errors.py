"""Failures of the import job, each with its sysexits exit code."""

from __future__ import annotations

EX_OK = 0
EX_DATAERR = 65
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78


class ImportFailure(Exception):
    """A failure that ends the run with `exit_code`."""

    exit_code = EX_TEMPFAIL


class TemporaryFailure(ImportFailure):
    """Worth retrying later: a service unreachable, overloaded or failing (75)."""

    exit_code = EX_TEMPFAIL


class NotAuthorized(ImportFailure):
    """The client's credentials or grants are refused (77)."""

    exit_code = EX_NOPERM


class ConfigurationError(ImportFailure):
    """Missing or invalid configuration (78)."""

    exit_code = EX_CONFIG


class UnreadableSource(ImportFailure):
    """The source file is not the format it was said to be, or is not text."""

    exit_code = EX_DATAERR
