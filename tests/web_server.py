"""The web app served over real HTTP by uvicorn in a thread, for tests that need a socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

START_TIMEOUT_S = 15


@contextmanager
def uvicorn_thread(app, port: int, *, log_level: str = "critical") -> Iterator[None]:
    """Serve `app` on 127.0.0.1:`port` until the block ends (started before it begins)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level=log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
