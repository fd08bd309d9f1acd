"""Errors that stop a run with a message that says what to do (no traceback)."""

from __future__ import annotations

from singer_sdk.exceptions import MissingKeyPropertiesError, RecordsWithoutSchemaException


class TargetError(Exception):
    """A failure the user fixes (config, key, quota, data); exit status 1."""


class InputError(TargetError):
    """A line of the Singer input that cannot be read as a message."""

    def __init__(self, line: int, problem: str, stream: str | None = None) -> None:
        where = f"line {line}" + (f" (stream '{stream}')" if stream else "")
        super().__init__(f"bad input at {where}: {problem}")
        self.line = line
        self.stream = stream


class RecordBeforeSchema(InputError, RecordsWithoutSchemaException):
    """A RECORD whose stream has had no SCHEMA (the SDK's own error, with a position)."""


class KeyPropertyMissing(InputError, MissingKeyPropertiesError):
    """A record of a skipped stream without its key property (the SDK's own error)."""
