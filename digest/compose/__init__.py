"""Emails rendered to subject, plain text and inlined HTML.

`Composer` (compose.digest_email) renders digests from shells compiled once per run
(compose.shells) and confirmations the ordinary way (compose.confirm_email); the
templates, their environment and filters are in compose.templates.
"""

from digest.compose.confirm_email import describe_schedule
from digest.compose.digest_email import Composer
from digest.compose.records import Links, RenderedEmail
from digest.compose.templates import make_environment, safe_url, templates_dir

__all__ = ["Composer", "Links", "RenderedEmail", "describe_schedule", "make_environment", "safe_url", "templates_dir"]
