"""Paper identity and the diff of a snapshot against the papers already seen.

A paper's key is its arXiv id without version, else its DOI, else its normalised title, so
one paper listed by the HF page, the HF API and arXiv RSS is one paper. Keys never change
once given (feeds use them as GUIDs): a paper first seen by title keeps its `title:` key
when its arXiv id turns up later. Everything here is pure: the caller loads the known
papers (`KnownPapers`) and writes the result.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterable

from digest.models import Paper

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_ARXIV_VERSION = re.compile(r"v\d+$")
# Fields whose stored value is kept unless the incoming item is a new version of the paper.
_VERSIONED = ("title", "abstract", "authors")
_FILLABLE = ("arxiv_id", "doi", "author_count", "organization", "published", "listing_day")


@lru_cache(maxsize=262_144)
def normalize_title(title: str) -> str:
    """NFKC, casefold, punctuation and spacing folded: the title as an identity.

    Cached: one ingest asks for the same title's form several times (match, key, store).
    """
    folded = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


@lru_cache(maxsize=262_144)
def title_hash(title: str) -> int:
    """A signed 64-bit hash of the normalised title: the indexed column title matching uses.

    An integer index is several times cheaper to maintain than one on the title text; a
    collision costs nothing but a candidate that `KnownPapers.find` then tells apart.
    """
    return int.from_bytes(hashlib.sha256(normalize_title(title).encode()).digest()[:8], "big", signed=True)


def strip_version(arxiv_id: str) -> str:
    """'2609.26811v2' -> '2609.26811' (old-style 'cond-mat/0102536v1' too)."""
    return _ARXIV_VERSION.sub("", arxiv_id.strip())


def paper_key(paper: Paper) -> str:
    """The stable key a new paper gets: arxiv:<id>, doi:<doi> or title:<hash of title>."""
    if paper.arxiv_id:
        return f"arxiv:{strip_version(paper.arxiv_id)}"
    if paper.doi:
        return f"doi:{paper.doi.strip().lower()}"
    digest = hashlib.sha256(normalize_title(paper.title).encode()).hexdigest()[:20]
    return f"title:{digest}"


@dataclass(slots=True)
class KnownPapers:
    """Stored papers that might match a snapshot, indexed the ways identity is decided."""

    by_arxiv: dict[str, Paper] = field(default_factory=dict)
    by_doi: dict[str, Paper] = field(default_factory=dict)
    by_title: dict[str, list[Paper]] = field(default_factory=dict)

    @classmethod
    def of(cls, papers: Iterable[Paper]) -> "KnownPapers":
        known = cls()
        for paper in papers:
            known.add(paper)
        return known

    def add(self, paper: Paper) -> None:
        if paper.arxiv_id:
            self.by_arxiv[paper.arxiv_id] = paper
        if paper.doi:
            self.by_doi[paper.doi.lower()] = paper
        self.by_title.setdefault(normalize_title(paper.title), []).append(paper)

    def find(self, paper: Paper) -> Paper | None:
        """The known paper that `paper` is, by arXiv id, then DOI, then normalised title."""
        if paper.arxiv_id and paper.arxiv_id in self.by_arxiv:
            return self.by_arxiv[paper.arxiv_id]
        if paper.doi and paper.doi.lower() in self.by_doi:
            return self.by_doi[paper.doi.lower()]
        # Same title, different arXiv ids: two papers (e.g. two "Introduction"s).
        candidates = [c for c in self.by_title.get(normalize_title(paper.title), ())
                      if not (c.arxiv_id and paper.arxiv_id) or c.arxiv_id == paper.arxiv_id]
        if len(candidates) > 1 and paper.authors:  # several papers of this title: the one by these people
            names = _names(paper)
            return next((c for c in candidates if names & _names(c)), candidates[0])
        return candidates[0] if candidates else None


def _names(paper: Paper) -> set[str]:
    return {" ".join(name.casefold().split()) for name in paper.authors}


def _other_people(earlier: Paper, paper: Paper) -> bool:
    """Two entries of one listing that match by title alone and whose author lists share no
    one: two papers (two "Introduction"s without ids), not a repeat. Only within a listing,
    where names are written alike; across sources a name may be written otherwise."""
    if (earlier.arxiv_id and earlier.arxiv_id == paper.arxiv_id) or (earlier.doi and earlier.doi == paper.doi):
        return False
    return bool(earlier.authors and paper.authors) and not _names(earlier) & _names(paper)


def clean(paper: Paper) -> Paper:
    """The paper with identity fields canonical: unversioned arXiv id, lower-case DOI."""
    arxiv_id = (strip_version(paper.arxiv_id) or None) if paper.arxiv_id else None
    doi = (paper.doi.strip().lower() or None) if paper.doi else None
    author_count = len(paper.authors) if paper.authors else paper.author_count
    if (arxiv_id, doi, author_count) == (paper.arxiv_id, paper.doi, paper.author_count):
        return paper
    return replace(paper, arxiv_id=arxiv_id, doi=doi, author_count=author_count)


def changes(stored: Paper, incoming: Paper) -> dict[str, object]:
    """What `incoming` adds to or changes in `stored`, as {field: new value}; {} if nothing.

    Empty fields are filled; upvotes, links and categories follow the newest listing; title,
    abstract and authors change only when the item is a new version (arXiv `replace`), except
    that an abstract carrying the stored one on (a save cut the earlier copy off) replaces it.
    """
    found: dict[str, object] = {}
    for name in _FILLABLE:
        value = getattr(incoming, name)
        if value is not None and getattr(stored, name) is None:
            found[name] = value
    revised = (incoming.announce_type or "").startswith("replace")
    for name in _VERSIONED:
        value, old = getattr(incoming, name), getattr(stored, name)
        if value and value != old and (revised or not old or (name == "abstract" and completes(old, value))):
            found[name] = value
    if "authors" in found:
        found["author_count"] = len(incoming.authors)
    if incoming.upvotes is not None and incoming.upvotes != stored.upvotes:
        found["upvotes"] = incoming.upvotes
    # Fast paths: a relisting usually brings the same links and no categories.
    if incoming.links and incoming.links != stored.links:
        links = {**stored.links, **{k: v for k, v in incoming.links.items() if v}}
        if links != stored.links:
            found["links"] = links
    if incoming.categories:
        categories = tuple(dict.fromkeys(stored.categories + incoming.categories))
        if categories != stored.categories:
            found["categories"] = categories
    return found


def completes(partial: str, whole: str) -> bool:
    """True when `whole` is `partial` carried on (whitespace aside): the full text of a cut-off copy.

    A shorter or different text is never "complete": a later truncated listing cannot
    shorten a stored abstract.
    """
    if len(whole) <= len(partial):
        return False
    if whole.startswith(partial):
        return True
    start, full = " ".join(partial.split()), " ".join(whole.split())
    return len(full) > len(start) and full.startswith(start)


def apply(paper: Paper, found: dict[str, object]) -> Paper:
    return replace(paper, **found) if found else paper


@dataclass(slots=True)
class SnapshotDiff:
    """The outcome of one snapshot against the store.

    `new` are papers to insert (keys set); `updated` maps a stored paper id to its changed
    fields; `unchanged` are stored ids seen again; `stored_ids` maps the key of every stored
    paper seen to its id. `sightings` lists, in listing order, (paper key, upvotes then).
    """

    new: list[Paper] = field(default_factory=list)
    updated: dict[int, dict[str, object]] = field(default_factory=dict)
    unchanged: list[int] = field(default_factory=list)
    stored_ids: dict[str, int] = field(default_factory=dict)
    sightings: list[tuple[str, int | None]] = field(default_factory=list)


def _all_distinct(papers: list[Paper]) -> bool:
    """True when no two papers could be the same one (the common case, checked cheaply)."""
    arxiv_ids = [p.arxiv_id for p in papers if p.arxiv_id]
    dois = [p.doi for p in papers if p.doi]
    return (
        len(set(arxiv_ids)) == len(arxiv_ids)
        and len(set(dois)) == len(dois)
        and len({normalize_title(p.title) for p in papers}) == len(papers)
    )


def dedupe(papers: Iterable[Paper]) -> list[Paper]:
    """One entry per paper in listing order; repeats (arXiv `cross` lists) merge into the first.
    Entries with one title but no shared author (and no shared id) stay two papers."""
    cleaned = [clean(paper) for paper in papers]
    if _all_distinct(cleaned):
        return cleaned
    seen = KnownPapers()
    unique: list[Paper] = []
    index: dict[int, int] = {}
    for paper in cleaned:
        earlier = seen.find(paper)
        if earlier is not None and _other_people(earlier, paper):
            earlier = None
        if earlier is None:
            seen.add(paper)
            index[id(paper)] = len(unique)
            unique.append(paper)
            continue
        merged = apply(earlier, changes(earlier, paper))
        if merged is not earlier:
            unique[index[id(earlier)]] = merged
            index[id(merged)] = index[id(earlier)]
            seen.add(merged)
    return unique


def diff_snapshot(papers: Iterable[Paper], known: KnownPapers) -> SnapshotDiff:
    """Classify each paper of a snapshot as new, updated or unchanged (pure; safe to re-run).

    `papers` must already be unique (see `dedupe`). New papers get their key assigned in
    place and are added to `known`.
    """
    result = SnapshotDiff()
    claimed: set[str] = set()
    for paper in papers:
        stored = known.find(paper)
        if stored is not None and stored.key in claimed:
            stored = None  # two listed papers matched one stored title: the second is new
        if stored is None:
            # Set in place, not copied: a 100k-paper snapshot would pay 0.3 s for copies of
            # records that nothing else holds.
            paper.key = _unused_key(paper, known, claimed)
            stored = paper
            known.add(stored)
            result.new.append(stored)
        elif found := changes(stored, paper):
            result.updated[stored.id] = found
            result.stored_ids[stored.key] = stored.id
        else:
            result.unchanged.append(stored.id)
            result.stored_ids[stored.key] = stored.id
        claimed.add(stored.key)
        result.sightings.append((stored.key, paper.upvotes))
    return result


def _unused_key(paper: Paper, known: KnownPapers, claimed: set[str]) -> str:
    """paper_key, suffixed in the rare case two different papers share a title key."""
    key = paper_key(paper)
    same_title = {p.key for p in known.by_title.get(normalize_title(paper.title), ())}
    if not same_title and key not in claimed:
        return key
    candidate, suffix = key, 2
    while candidate in claimed or candidate in same_title:
        candidate, suffix = f"{key}-{suffix}", suffix + 1
    return candidate
