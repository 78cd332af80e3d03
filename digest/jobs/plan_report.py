"""What a planning run did (a module of its own: a process that only sends reads it without
importing the ranking code, ~0.3 s of CPU)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PlanReport"]


@dataclass(slots=True, kw_only=True)
class PlanReport:
    """What one planning run did; `rows` holds the rows instead of writing them in a dry run."""

    due: int = 0
    planned: int = 0
    skipped_empty: int = 0
    already_planned: int = 0
    candidates: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    process_peak_rss_mb: float | None = None  # when it planned in a process of its own (jobs.planner_process)
