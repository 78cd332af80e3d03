"""Run the web app under uvicorn with the options it needs (for `digest serve`).

* `access_log=False`: uvicorn's access log prints raw paths, tokens included; the app
  logs every request itself with tokens redacted (logger "digest.web").
* `proxy_headers=True` with `forwarded_allow_ips`: behind a reverse proxy the subscribe
  rate limit must count the real client, taken from X-Forwarded-For only when the
  connection comes from a trusted proxy address (default: 127.0.0.1 only).
* One process: the rate limit, feed cache and ranking indexes live in memory. Several
  processes work (each keeps its own), but each then allows the full subscribe rate.
"""

from __future__ import annotations

from digest.config import Settings


def serve(settings: Settings, *, host: str | None = None, port: int | None = None,
          forwarded_allow_ips: str = "127.0.0.1") -> None:
    """Serve `create_app(settings)` until interrupted. Raises ConfigError without a secret key."""
    import uvicorn

    from digest.web.app import create_app

    app = create_app(settings)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, access_log=False,
                proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips, server_header=False,
                log_level="info")
