"""Delivery in one import: planning, rendering and dispatch (see those modules).

Kept so `from digest.jobs.delivery import ...` goes on working while callers move to
`jobs.planning`, `jobs.rendering` and `jobs.dispatch`; it holds no logic of its own.
"""

from digest.jobs.dispatch import Dispatcher, SendReport, dispatcher_for, outcome_of, retry_at, write_dry_run
from digest.jobs.planning import PlanReport, plan_digests, preview_digest, queue_test_digest
from digest.jobs.rendering import MailSetup, Renderer, render_preview_html

__all__ = ["Dispatcher", "MailSetup", "PlanReport", "Renderer", "SendReport", "dispatcher_for", "outcome_of",
           "plan_digests", "preview_digest", "queue_test_digest", "render_preview_html", "retry_at", "write_dry_run"]
