"""Folder sources on disk: which files are ready, and moves that never overwrite."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from digest.errors import SourceUnavailable
from digest.jobs import folders

NOW = datetime(2026, 8, 6, 0, 5, tzinfo=timezone.utc)


def touch(path, mtime: float, text: str = "x"):
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def test_scan_folder_sorts_ready_files_and_holds_back_fresh_ones(tmp_path):
    now = datetime.now(timezone.utc)
    t = now.timestamp()
    touch(tmp_path / "b.txt", t - 100)
    touch(tmp_path / "a.txt", t - 50)
    touch(tmp_path / "fresh.txt", t - 0.5)
    for ignored in (".hidden", "x.part", "y.tmp", "z.crdownload", "backup~"):
        touch(tmp_path / ignored, t - 100)
    (tmp_path / "done").mkdir()
    touch(tmp_path / "done" / "old.txt", t - 100)
    ready, waiting = folders.scan_folder(tmp_path, now)
    assert [p.name for p in ready] == ["b.txt", "a.txt"]
    assert [p.name for p in waiting] == ["fresh.txt"]


def test_scan_of_a_missing_folder_is_a_system_error(tmp_path):
    with pytest.raises(SourceUnavailable) as caught:
        folders.scan_folder(tmp_path / "gone", NOW)
    assert caught.value.exit_code == 2 and "directory not found" in str(caught.value)


def test_move_into_never_overwrites(tmp_path):
    done = tmp_path / "done"
    first = move_new(tmp_path, "listing.txt", "1", done)
    second = move_new(tmp_path, "listing.txt", "2", done)
    third = move_new(tmp_path, "listing.txt", "3", done)
    assert [p.name for p in (first, second, third)] == ["listing.txt", "listing.1.txt", "listing.2.txt"]
    assert [p.read_text() for p in (first, second, third)] == ["1", "2", "3"]
    assert not (tmp_path / "listing.txt").exists()


def move_new(folder, name, text, into):
    path = folder / name
    path.write_text(text)
    return folders.move_into(path, into)
