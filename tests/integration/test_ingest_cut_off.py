"""A last paper the save cut off is stored, and a later snapshot with its full abstract
updates it (reported `updated`, never new), on each database backend."""

from __future__ import annotations

from datetime import date

from digest.jobs import ingest_bytes
from digest.store.papers import list_papers
from tests.unit.sources.listing_variants import SAMPLES, page_variant

TODAY = date(2026, 11, 21)
LINK = " Code: https://example.github.io/project/"


def _plain() -> tuple[str, str, str]:
    """The plain layout, its last title and last abstract."""
    text = (SAMPLES / "snapshots" / "hf-listing-plain.txt").read_text(encoding="utf-8")
    title = "Generalization in diffusion models arises from geometry-adaptive harmonic representations"
    start = text.rindex(title) + len(title)
    return text, title, text[start:].strip()


def _stored(engine, title: str):
    with engine.connect() as conn:
        return next(p for p in list_papers(conn) if p.title == title)


def test_a_cut_off_last_abstract_is_kept_then_completed_by_a_later_snapshot(engine):
    text, title, abstract = _plain()
    whole = page_variant(text, abstract, "url", "as-saved") + b"\n"  # the last abstract ends with a link
    cut = whole[: whole.rindex(b"example.github.io")]  # "... Code: https://" and no final newline
    first = ingest_bytes(engine, cut, input="cut.txt", today=TODAY)
    assert (first.papers, first.new) == (48, 48)
    assert any("may be cut off" in w and title[:40] in w for w in first.warnings)
    assert _stored(engine, title).abstract == abstract + " Code: https://"

    second = ingest_bytes(engine, whole, input="whole.txt", today=TODAY)
    assert (second.new, second.updated, second.unchanged) == (0, 1, 47)
    assert second.warnings == []
    assert _stored(engine, title).abstract == abstract + LINK


def test_a_later_cut_off_copy_never_shortens_a_stored_abstract(engine):
    text, title, abstract = _plain()
    ingest_bytes(engine, text.encode(), input="whole.txt", today=TODAY)
    cut = text[: text.rindex(abstract) + 60].encode()
    again = ingest_bytes(engine, cut, input="cut.txt", today=TODAY)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 48)
    assert _stored(engine, title).abstract == abstract


def test_a_repeated_hf_api_item_keeps_the_fuller_copy(engine):
    import json

    items = [{"paper": {"id": "2601.00001", "title": "A paper", "summary": ""}},
             {"paper": {"id": "2601.00001", "title": "A paper", "summary": "Its abstract, given only here."}}]
    report = ingest_bytes(engine, json.dumps(items).encode(), input="api.json")
    assert (report.papers, report.new) == (1, 1)
    assert _stored(engine, "A paper").abstract == "Its abstract, given only here."
