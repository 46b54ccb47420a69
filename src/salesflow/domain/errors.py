"""The exception tree of salesflow.

::

    SalesflowError                  root: catch this to catch everything we raise
    ├── TransientError              worth retrying (a locked table, a throttled call)
    └── PermanentError              retrying cannot help
        ├── MalformedDocument       a JSON document that cannot be read; carries the byte offset
        ├── ConfigError             a setting or a file layout that needs fixing by a person
        ├── NotFound                an id or key that does not exist
        └── ReadOnlyQuery           SQL that would write, refused

The runner alone decides "retry" or "failed", from the class, never from the text.
Messages say what happened and what to do about it.
"""

from __future__ import annotations


class SalesflowError(Exception):
    """Root of every error salesflow raises on purpose."""


class TransientError(SalesflowError):
    """A failure that may pass: retried with backoff before anything is given up."""


class PermanentError(SalesflowError):
    """A failure that the same call cannot fix: reported, never retried."""


class MalformedDocument(PermanentError):
    """A JSON document that cannot be read as orders; nothing of it is applied."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason, offset)  # both in args, so the error pickles across processes
        self.reason = reason
        self.offset = offset

    def __str__(self) -> str:
        return f"{self.reason} (at byte {self.offset})"


class ConfigError(PermanentError):
    """A setting, a path or a column mapping that a person has to fix."""


class NotFound(PermanentError):
    """The asked-for id or key does not exist."""


class ReadOnlyQuery(PermanentError):
    """A SQL statement that would write, or reach outside its tables, was refused."""
