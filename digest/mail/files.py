"""A sender that keeps messages here instead of sending them: .eml files, for dry runs and previews."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from digest.mail.sender import AsyncClosing, Outgoing, SendResult

__all__ = ["FileSender"]


class FileSender(AsyncClosing):
    """Write each message to `<folder>/<delivery_id>.eml` instead of sending it.

    The write is atomic (temporary file, then rename), so a reader never sees half a
    message and a re-send replaces the file. Disk errors come back as transient
    failures. The folder is created on first use.
    """

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    async def send(self, message: Outgoing) -> SendResult:
        try:
            path = await asyncio.to_thread(self._write, message)
        except OSError as exc:
            return SendResult(delivery_id=message.delivery_id, ok=False, reply=f"cannot write message: {exc}")
        return SendResult(delivery_id=message.delivery_id, ok=True, reply=str(path))

    def _write(self, message: Outgoing) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{int(message.delivery_id)}.eml"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(message.data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    async def close(self) -> None:
        """Every file is closed as it is written: nothing to release."""
