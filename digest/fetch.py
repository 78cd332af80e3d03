"""The one way the service reads a snapshot: a file, stdin or a URL, within a size cap.

Every URL, polled or named on the command line, goes through `Fetcher.get`: httpx with
the fetch timeout and size cap, a conditional GET when validators are known (ETag /
Last-Modified), 3 attempts with exponential backoff on network errors and 5xx, and at
most one request per 3 s to each host (arXiv asks for that), shared by the whole
process. A file over the cap is refused by its size before a byte is read, so a 200 MB
mistake fails at once with bounded memory.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable
from urllib.parse import urlsplit

import httpx

from digest import __version__
from digest.errors import FetchError, SnapshotError
from digest.ratelimit import Pacer

__all__ = ["Fetched", "Fetcher", "HOSTS", "fetch_url", "host_of", "is_url", "read_file", "read_local", "read_stream"]

USER_AGENT = f"paper-digest/{__version__} (+https://github.com/paper-digest)"
ATTEMPTS = 3
BACKOFF_SECONDS = 1.0  # doubled after each failed attempt: 1 s, 2 s
HOST_INTERVAL_SECONDS = 3.0

# One per process: every fetch in it shares the per-host budget.
HOSTS = Pacer(HOST_INTERVAL_SECONDS)


@dataclass(slots=True)
class Fetched:
    """What a read produced. `data` is None when the server said 304 Not Modified."""

    data: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _too_big(size: int | str, cap: int) -> str:
    shown = _megabytes(size) if isinstance(size, int) else size
    return f"input is {shown}, over the {_megabytes(cap)} limit (raise DIGEST_MAX_SNAPSHOT_BYTES if it is genuine)"


def read_stream(stream: BinaryIO, cap: int) -> bytes:
    """Up to `cap` bytes of a stream; more is an error, found after reading cap + 1 bytes."""
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise SnapshotError(_too_big(f"more than {_megabytes(cap)}", cap))
    return data


def read_file(path: Path, cap: int) -> bytes:
    """The bytes of `path`; raises SnapshotError (missing, a directory, unreadable, over the cap)."""
    try:
        size = path.stat().st_size
        if size > cap:
            raise SnapshotError(_too_big(size, cap))
        with path.open("rb") as stream:
            return read_stream(stream, cap)
    except FileNotFoundError:
        raise SnapshotError("no such file") from None
    except IsADirectoryError:
        raise SnapshotError("is a directory (give the snapshot files inside it)") from None
    except PermissionError:
        raise SnapshotError("permission denied") from None


def read_local(location: str, *, cap: int) -> bytes:
    """The bytes of a path or '-' (stdin); URLs go through a `Fetcher`."""
    if location == "-":
        return read_stream(sys.stdin.buffer, cap)
    return read_file(Path(location), cap)


def fetch_url(
    url: str,
    *,
    cap: int,
    timeout: float,
    client: httpx.Client,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """One conditional GET of `url`; raises FetchError on network errors, HTTP errors and the cap."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, etag, last_modified, 304)
            if response.status_code >= 400:
                raise FetchError(f"{url}: HTTP {response.status_code} {response.reason_phrase}",
                                 status=response.status_code, retryable=response.status_code >= 500)
            declared = int(response.headers.get("content-length") or 0)
            if declared > cap:
                raise FetchError(f"{url}: {_too_big(declared, cap)}", retryable=False)
            data = _read_capped(response, url, cap)
            return Fetched(data, response.headers.get("etag"), response.headers.get("last-modified"),
                           response.status_code)
    except httpx.TimeoutException:
        raise FetchError(f"{url}: timed out after {timeout:g} s") from None
    except httpx.InvalidURL as err:
        raise FetchError(f"{url}: invalid URL: {err}", retryable=False) from None
    except httpx.HTTPError as err:
        raise FetchError(f"{url}: {type(err).__name__}: {err}") from None


def _read_capped(response: httpx.Response, url: str, cap: int) -> bytes:
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > cap:
            raise FetchError(f"{url}: {_too_big(f'more than {_megabytes(cap)}', cap)}", retryable=False)
    return bytes(body)


class Fetcher:
    """GETs with retries, backoff and the per-host limit, over one httpx client.

    Use as a context manager (or call `close()`): a client it made itself is closed then;
    one passed in (tests pass a mock transport's) is left to its owner. `pacer` and
    `sleep` are parameters so tests run without waiting.
    """

    def __init__(self, *, cap: int, timeout: float, client: httpx.Client | None = None, pacer: Pacer | None = None,
                 sleep: Callable[[float], None] = time.sleep, attempts: int = ATTEMPTS,
                 backoff: float | None = None):
        self.cap, self.timeout = cap, timeout
        # The module's values are read now, not at import, so a test can set them for a CLI run.
        self.pacer = pacer or HOSTS
        self.backoff = BACKOFF_SECONDS if backoff is None else backoff
        self.sleep, self.attempts = sleep, attempts
        self._own = client is None
        self._client = client

    @classmethod
    def for_settings(cls, settings, **options) -> "Fetcher":
        """A Fetcher with the settings' size cap and timeout (`options` as for the constructor)."""
        return cls(cap=settings.max_snapshot_bytes, timeout=settings.fetch_timeout, **options)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=True)
        return self._client

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """Fetch `url` (conditionally when validators are given); raises FetchError after the last attempt."""
        for attempt in range(1, self.attempts + 1):
            self.pacer.wait(host_of(url), sleep=self.sleep)
            try:
                return fetch_url(url, cap=self.cap, timeout=self.timeout, client=self.client, etag=etag,
                                 last_modified=last_modified)
            except FetchError as err:
                if attempt == self.attempts or not err.retryable:
                    if attempt > 1:
                        raise FetchError(f"{err} (after {attempt} attempts)", status=err.status,
                                         retryable=err.retryable) from None
                    raise
                self.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._own and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
