"""The use cases: the only modules that combine pipeline steps.

Every dependency (engine, settings, clock, sender) is a parameter, so the CLI, the
scheduler, the web app and the tests drive the same code.

The names below are imported from their modules on first use: importing one job (say
`jobs.papers` for `digest papers list`) must not load the ranking index, the templates
and the SMTP client that other jobs need.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "gc_paused": "common", "utcnow": "common",
    "plan_digests": "planning", "preview_digest": "planning",
    "render_preview_html": "rendering",
    "ingest_bytes": "ingest",
    **{name: "subscribers" for name in (
        "Action", "add_subscriber", "apply_action", "apply_subscriber_import", "change_status",
        "plan_subscriber_import", "remove_subscriber", "set_status", "update_subscriber")},
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'digest.jobs' has no attribute {name!r}")
    return getattr(import_module(f"digest.jobs.{home}"), name)
