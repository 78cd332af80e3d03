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


def not_utf8(data: bytes, err: UnicodeDecodeError) -> tuple[str, int]:
    """(message, line number) for bytes that are not UTF-8: which byte, where, and what to do.
    A file saved in a legacy encoding (Windows-1252 is the usual one) is refused rather than
    guessed at: a wrong guess would put wrong letters in authors' names, silently."""
    line = data.count(b"\n", 0, err.start) + 1
    column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
    bad = data[err.start:err.start + 1].hex().upper()
    return (f"not UTF-8 text (byte 0x{bad} at column {column}): save it as UTF-8, e.g. "
            f"`iconv -f WINDOWS-1252 -t UTF-8`", line)
