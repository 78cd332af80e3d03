"""Folder sources on disk: which dropped files are ready, and filing them under done/ or failed/.

A file modified in the last SETTLE_SECONDS, a hidden file and a half-written download are
left for the next poll. A file that cannot be ingested is moved to failed/ with a
`.error.txt` beside it saying why; names never collide (name.1.ext, name.2.ext ...).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from digest.errors import DigestError, SourceUnavailable
from digest.store.sources import one_line

__all__ = ["DONE_DIR", "FAILED_DIR", "file_away", "move_failed", "move_into", "scan_folder"]

# A file modified this recently may still be being written (a copy or a download).
SETTLE_SECONDS = 2.0
DONE_DIR, FAILED_DIR = "done", "failed"
ERROR_SUFFIX = ".error.txt"
# Names that mark a file still being written by common tools.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", "~")


def _is_candidate(name: str) -> bool:
    """Hidden files and names of half-written downloads are never snapshots yet."""
    return not name.startswith(".") and not name.endswith(PARTIAL_SUFFIXES)


def _list(folder: Path) -> list[os.DirEntry]:
    try:
        return list(os.scandir(folder))
    except FileNotFoundError:
        raise SourceUnavailable(f"{folder}: directory not found") from None
    except OSError as err:
        raise SourceUnavailable(f"{folder}: cannot list the directory: {err.strerror}") from None


def scan_folder(folder: Path, now: datetime) -> tuple[list[Path], list[Path]]:
    """(ready, waiting) snapshot files directly in `folder`, oldest first.

    Sub-folders (done/, failed/), hidden and partial files are ignored; files modified less
    than SETTLE_SECONDS before `now` are `waiting` (probably still being written). `now`
    must be the real time for that test to mean anything. Raises SourceUnavailable when
    the folder cannot be listed.
    """
    cutoff = now.timestamp() - SETTLE_SECONDS
    ready: list[tuple[float, str, Path]] = []
    waiting: list[tuple[float, str, Path]] = []
    for entry in _list(folder):
        try:
            if not _is_candidate(entry.name) or not entry.is_file():
                continue
            mtime = entry.stat().st_mtime
        except OSError:
            continue  # vanished (taken by another poller) or unreadable: not ours to judge
        (waiting if mtime > cutoff else ready).append((mtime, entry.name, Path(entry.path)))
    return [path for *_, path in sorted(ready)], [path for *_, path in sorted(waiting)]


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or name.1.ext, name.2.ext... when taken (same-named drops keep both)."""
    stem, suffix = os.path.splitext(name)
    target, number = folder / name, 1
    while target.exists() or Path(f"{target}{ERROR_SUFFIX}").exists():
        target, number = folder / f"{stem}.{number}{suffix}", number + 1
    return target


def move_into(path: Path, folder: Path) -> Path:
    """Move `path` into `folder` (created if needed) without overwriting; returns the new path."""
    folder.mkdir(exist_ok=True)
    target = _free_name(folder, path.name)
    path.replace(target)
    return target


def move_failed(path: Path, err: DigestError, now: datetime) -> None:
    """Move `path` into failed/ beside a .error.txt saying why and when."""
    target = move_into(path, path.parent / FAILED_DIR)
    Path(f"{target}{ERROR_SUFFIX}").write_text(
        f"{one_line(str(err))}\nfailed at {now.isoformat()} (fix the file and drop it in again)\n",
        encoding="utf-8",
    )


def file_away(fail: Callable[[DigestError], None], path: Path, move: Callable[..., object], *args: Any) -> None:
    """`move(*args)`, reporting a failure to `fail` instead of raising.

    A file that cannot be moved is ingested again next time (recognised as a duplicate)
    and the move retried; the user sees why in last_error.
    """
    try:
        move(*args)
    except FileNotFoundError:
        return  # already gone (another poller moved it): nothing left to file away
    except OSError as err:
        fail(SourceUnavailable(f"{path}: cannot move it out of the folder: {err.strerror}"))
