"""Plain records that cross module lines.

Parsers produce `Paper`s with no `key`; the diff gives each one its stable key and the
store fills `id` and the seen times. Ranking, composing and feeds read them back as the
same class, so every stage speaks one vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(slots=True)
class Paper:
    """One research paper as a listing or the store knows it.

    `links` maps a link kind to a URL: "abs" (arXiv abstract page), "pdf", "hf" (the
    Hugging Face paper page), "code" (repository), "project". `announce_type` is set by
    arXiv RSS only: "new", "cross", "replace" or "replace-cross".
    """

    title: str
    abstract: str = ""
    arxiv_id: str | None = None
    doi: str | None = None
    authors: tuple[str, ...] = ()
    author_count: int | None = None
    organization: str | None = None
    published: date | None = None
    listing_day: date | None = None
    upvotes: int | None = None
    links: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    announce_type: str | None = None
    # Filled by the store.
    key: str | None = None
    id: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    @property
    def url(self) -> str | None:
        """The page a reader should land on: arXiv abstract, else HF page, else any link."""
        for kind in ("abs", "hf", "project", "pdf", "code"):
            if self.links.get(kind):
                return self.links[kind]
        return next(iter(self.links.values()), None)

    @property
    def byline(self) -> str:
        """Authors, an organisation or an author count, whichever the listing gave."""
        if self.authors:
            shown = ", ".join(self.authors[:6])
            more = len(self.authors) - 6
            return f"{shown} and {more} more" if more > 0 else shown
        if self.organization:
            return self.organization
        if self.author_count:
            return f"{self.author_count} author{'s' if self.author_count != 1 else ''}"
        return ""


@dataclass(slots=True)
class ParsedSnapshot:
    """What a parser found in one input: the papers in listing order and any warnings."""

    format: str
    papers: list[Paper]
    listing_day: date | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class IngestReport:
    """The outcome of ingesting one input; `--json` prints it as one line."""

    input: str
    format: str
    papers: int
    new: int
    updated: int
    unchanged: int
    duplicate_snapshot: bool
    listing_day: date | None = None
    snapshot_id: int | None = None
    warnings: list[str] = field(default_factory=list)
    not_modified: bool = False  # a conditional GET answered 304: nothing was read

    def as_dict(self) -> dict:
        return {
            "input": self.input,
            "format": self.format,
            "papers": self.papers,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicate_snapshot": self.duplicate_snapshot,
            "listing_day": self.listing_day.isoformat() if self.listing_day else None,
            "snapshot_id": self.snapshot_id,
            "warnings": list(self.warnings),
            "not_modified": self.not_modified,
        }


@dataclass(slots=True)
class Subscriber:
    """A subscriber as the pipeline needs them (the store owns the full row).

    `frequency` is "daily" or "weekly"; `weekday` (0 = Monday) applies to weekly ones.
    `cursor` is the highest paper id already delivered: the next digest covers papers
    with a larger id, so a skipped day loses nothing.
    """

    email: str
    interests: str = ""
    id: int | None = None
    name: str | None = None
    status: str = "pending"
    timezone: str = "UTC"
    send_hour: int = 7
    frequency: str = "daily"
    weekday: int | None = None
    max_papers: int = 10
    min_score: float = 0.0
    send_empty: bool = False
    feed_token: str = ""
    cursor: int = 0
    active_since: datetime | None = None  # when they were confirmed: no digest for slots before
    # Random per subscriber; every signed link is bound to it (digest.tokens). Not shown in repr.
    link_secret: str = field(default="", repr=False)


@dataclass(slots=True)
class RankedPaper:
    """A paper chosen for one subscriber, with why it was chosen.

    `snippet` is HTML-safe text where matched words are wrapped in <b>...</b> and
    everything else is escaped; `matched` lists the query terms found in the paper.
    """

    paper: Paper
    score: float
    matched: tuple[str, ...] = ()
    snippet: str = ""
    # The liked paper this one resembles, when that similarity drove the pick ("like <title>").
    because: Paper | None = None


@dataclass(slots=True)
class Digest:
    """One email's worth: a subscriber, the period it covers and the ranked papers."""

    subscriber: Subscriber
    period: str
    papers: list[RankedPaper]
    delivery_id: int | None = None
