"""Moved: the paper-window reads live in `digest.store.windows`, the outbox reads in
`digest.store.outbox`. Kept until `web.metrics` imports them from there."""

from digest.store.outbox import last_confirmation_at, recent_sent
from digest.store.windows import PaperState, newest_papers, paper_state, papers_since, window_start

__all__ = ["PaperState", "last_confirmation_at", "newest_papers", "paper_state", "papers_since", "recent_sent",
           "window_start"]
