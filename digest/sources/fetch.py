"""The only I/O of the sources package: read a file, stdin or a URL, within a size cap.

URLs are fetched with httpx (timeout, size cap, conditional GET with the ETag and
Last-Modified remembered from the previous fetch). A file over the cap is refused by its
size before a byte is read, so a 200 MB mistake fails at once with bounded memory.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from digest import __version__
from digest.errors import FetchError, SnapshotError

USER_AGENT = f"paper-digest/{__version__} (+https://github.com/paper-digest)"


@dataclass(slots=True)
class Fetched:
    """What a read produced. `data` is None when the server said 304 Not Modified."""

    data: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


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


def fetch_url(
    url: str,
    *,
    cap: int,
    timeout: float,
    etag: str | None = None,
    last_modified: str | None = None,
    client: httpx.Client | None = None,
) -> Fetched:
    """GET `url` conditionally; raises FetchError on network errors, HTTP errors and the cap."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    own = client is None
    client = client or httpx.Client(timeout=timeout, follow_redirects=True)
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
            return Fetched(data, response.headers.get("etag"), response.headers.get("last-modified"), response.status_code)
    except httpx.TimeoutException:
        raise FetchError(f"{url}: timed out after {timeout:g} s") from None
    except httpx.HTTPError as err:
        raise FetchError(f"{url}: {type(err).__name__}: {err}") from None
    finally:
        if own:
            client.close()


def _read_capped(response: httpx.Response, url: str, cap: int) -> bytes:
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > cap:
            raise FetchError(f"{url}: {_too_big(f'more than {_megabytes(cap)}', cap)}", retryable=False)
    return bytes(body)


def read_input(location: str, *, cap: int, timeout: float = 30.0) -> bytes:
    """The bytes of a path, '-' (stdin) or URL (unconditional GET)."""
    if location == "-":
        return read_stream(sys.stdin.buffer, cap)
    if is_url(location):
        fetched = fetch_url(location, cap=cap, timeout=timeout)
        return fetched.data or b""
    return read_file(Path(location), cap)
