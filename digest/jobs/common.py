"""What every use case shares: the clock and batch-work helpers."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around batch work.

    A big ingest or send run allocates millions of acyclic objects; the collector would
    rescan the growing heap again and again (a third of a 100k-paper ingest). Reference
    counting still frees everything; the collector runs again afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
