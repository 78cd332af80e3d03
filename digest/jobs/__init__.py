"""The use cases: the only modules that combine pipeline steps.

Every dependency (engine, settings, clock, sender) is a parameter, so the CLI, the
scheduler, the web app and the tests drive the same code.
"""

from digest.jobs.common import gc_paused, utcnow
from digest.jobs.planning import plan_digests, preview_digest
from digest.jobs.rendering import render_preview_html
from digest.jobs.ingest import ingest_bytes
from digest.jobs.subscribers import (
    Action,
    add_subscriber,
    apply_action,
    apply_subscriber_import,
    change_status,
    plan_subscriber_import,
    remove_subscriber,
    set_status,
    update_subscriber,
)

__all__ = [
    "Action",
    "add_subscriber",
    "apply_action",
    "apply_subscriber_import",
    "change_status",
    "gc_paused",
    "ingest_bytes",
    "plan_digests",
    "plan_subscriber_import",
    "preview_digest",
    "render_preview_html",
    "remove_subscriber",
    "set_status",
    "update_subscriber",
    "utcnow",
]
