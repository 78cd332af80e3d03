"""FileSender: .eml files for dry runs, written atomically."""

from __future__ import annotations

import asyncio
import email
import email.policy
from pathlib import Path

from digest.mail.files import FileSender
from digest.mail.message_ids import make_message_id
from digest.mail.sender import SendResult
from tests.fakes import sample_outgoing as outgoing


def test_file_sender_writes_parseable_eml_files(tmp_path: Path):
    folder = tmp_path / "out"

    async def run() -> list[SendResult]:
        async with FileSender(folder) as sender:
            return [await sender.send(outgoing(i)) for i in (5, 6, 5)]

    results = asyncio.run(run())
    assert all(r.ok for r in results)
    assert sorted(p.name for p in folder.iterdir()) == ["5.eml", "6.eml"]  # no temporary files left
    parsed = email.message_from_bytes((folder / "5.eml").read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == make_message_id(5, "example.org")
    assert parsed["To"] == "user5@example.com"
    assert parsed.get_body(("plain",)).get_content().splitlines()[:3] == ["Hello,", ".", ".leading dot"]
    assert results[0].reply == str(folder / "5.eml")


def test_file_sender_reports_disk_errors_as_failures(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    result = asyncio.run(FileSender(blocker / "sub").send(outgoing(1)))
    assert not result.ok and not result.permanent and "cannot write" in result.reply
