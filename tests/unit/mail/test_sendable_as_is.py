"""mail.bodies._sendable_as_is finds "From " at a line start with a regex: the same verdicts as
the plain substring tests it replaced, on tricky bodies."""

from __future__ import annotations

import pytest

from digest.mail.bodies import MAX_LINE_OCTETS, _lines_fit, _sendable_as_is

BOUNDARY = b"--=_pd_0123456789abcdef01234567"


def _plain(data: bytes, boundary: bytes) -> bool:
    if data.startswith(b"From ") or b"\nFrom " in data or (boundary and boundary in data):
        return False
    return all(len(line) <= MAX_LINE_OCTETS for line in data.split(b"\n"))


BODIES = [b"", b"From here", b"x\nFrom here", b"x\nFrom", b"x\nFromage", b"x\nfrom here", b"x\n From here",
          b"x\r\nFrom here", b"\nFrom ", b"From", "naïve\nFrom 東京".encode(), "naïve\nFro m".encode(),
          b"a" * MAX_LINE_OCTETS, b"a" * (MAX_LINE_OCTETS + 1), b"x\n" + b"a" * (MAX_LINE_OCTETS + 1) + b"\nFrom ",
          b"body " + BOUNDARY + b" end", b"body --=_pd_0123 end", ("word " * 5000 + "\nFrom x").encode(),
          ("word " * 5000).encode(), (("é" * 400 + "\n") * 50).encode()]


@pytest.mark.parametrize("data", BODIES)
@pytest.mark.parametrize("boundary", [BOUNDARY, b""])
def test_verdicts_are_those_of_the_plain_tests(data, boundary):
    assert _sendable_as_is(data, boundary) is _plain(data, boundary)
    assert _lines_fit(data) is all(len(line) <= MAX_LINE_OCTETS for line in data.split(b"\n"))
