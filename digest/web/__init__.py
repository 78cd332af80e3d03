"""The web app: subscribe/confirm/manage/unsubscribe pages, feeds, health and metrics.

`create_app(settings, engine=None)` builds the FastAPI app. It is imported lazily so the
CLI never imports FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digest.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from digest.web.app import create_app

        return create_app
    raise AttributeError(f"module 'digest.web' has no attribute {name!r}")
