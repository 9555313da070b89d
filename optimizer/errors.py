"""Domain errors. The CLI turns these into one-line ``Error: ...`` messages."""

from __future__ import annotations


class OptimizerError(Exception):
    """Base class for every error a user can fix (bad config, bad file, bad flag)."""


class ConfigError(OptimizerError):
    """A campaign file is invalid: names the file, the field path and the fix."""

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        super().__init__(f"{source}: {field}: {message}")


class InputError(OptimizerError):
    """A data file (CSV, log, input list) is invalid: names the file and line or column."""
