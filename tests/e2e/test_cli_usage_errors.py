"""A usage mistake is one line on stderr, like every other error of `digest`: what is wrong
and which help to read, exit 1; a bare group still shows its help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DIGEST = Path(sys.executable).with_name("digest")  # the console script, as installed


def digest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DIGEST), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "DIGEST_DATABASE_URL": "sqlite:///:memory:"})


@pytest.mark.parametrize(("args", "says", "help_of"), [
    (("run", "--bogus"), "No such option: --bogus", "digest run --help"),
    (("subscribers", "add"), "Missing argument 'email'", "digest subscribers add --help"),
    (("nosuch",), "No such command 'nosuch'", "digest --help"),
    (("rn",), "Did you mean 'run'", "digest --help"),
    (("subscribers", "nosuch"), "No such command 'nosuch'", "digest subscribers --help"),
    (("subscribers", "add", "ada@example.org", "--hour", "noon"), "Invalid value for '--hour'",
     "digest subscribers add --help"),
])
def test_a_usage_error_is_one_line_naming_the_help_to_read(args, says, help_of):
    ran = digest(*args)
    assert ran.returncode == 1, ran.stderr
    assert ran.stdout == ""
    [line] = ran.stderr.splitlines()
    assert line.startswith("error: ") and says in line and line.endswith(f"See '{help_of}'."), line
    assert "╭" not in ran.stderr and "Usage:" not in ran.stderr


def test_a_bare_group_still_prints_its_help():
    ran = digest("subscribers")
    assert "Usage: digest subscribers" in ran.stdout + ran.stderr
    assert "add" in ran.stdout + ran.stderr and "error:" not in ran.stderr
