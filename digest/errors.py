"""The errors the pipeline raises on purpose.

Each carries a one-line message fit for a terminal and the CLI exit code it maps to:
1 for a user error (bad input, bad query, unknown subscriber), 2 for a system error
(database, network, SMTP).
"""

from __future__ import annotations


class DigestError(Exception):
    """Base of every expected failure; `str(err)` is the one line shown to the user."""

    exit_code = 1


class ConfigError(DigestError):
    """A setting is missing or invalid."""


class SnapshotError(DigestError):
    """An input could not be read as a snapshot. `input` names it when known."""

    def __init__(self, message: str, *, input: str | None = None, line: int | None = None):
        self.message = message
        self.input = input
        self.line = line
        super().__init__(message)

    def __str__(self) -> str:
        where = self.input or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        return f"{where}: {self.message}" if where else self.message

    def at(self, input: str) -> "SnapshotError":
        """The same error, naming the input it came from."""
        return SnapshotError(self.message, input=input, line=self.line)


class FetchError(DigestError):
    """A URL could not be fetched. `status` is the HTTP status when the server answered;
    `retryable` says whether trying again later can help (network trouble, 5xx)."""

    exit_code = 2

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True):
        self.status = status
        self.retryable = retryable
        super().__init__(message)


class SourceError(DigestError):
    """A source definition that cannot work: bad name, location, interval or kind."""


class SourceUnavailable(DigestError):
    """A source that cannot be read right now (its folder is gone or unreadable)."""

    exit_code = 2


class QueryError(DigestError):
    """An interests query that cannot be parsed.

    `position` is the 0-based character offset of the problem in `query` (None when the
    parser could not tell), `hint` says how to fix it.
    """

    def __init__(self, message: str, *, query: str = "", position: int | None = None, hint: str = ""):
        self.message = message
        self.query = query
        self.position = position
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        where = f" at position {self.position}" if self.position is not None else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"bad query{where}: {self.message}{hint}"


class NotFoundError(DigestError):
    """A named thing (subscriber, source, paper) does not exist."""


class DeliveryError(DigestError):
    """Sending one message failed. `permanent` errors (5xx) are never retried."""

    exit_code = 2

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None):
        self.permanent = permanent
        self.code = code
        super().__init__(message)
