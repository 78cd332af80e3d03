"""The manage page's preview and the feeds served over HTTP show display text: arXiv LaTeX
rendered as Unicode, never raw `$\\times$` or `\\textbf{...}`."""

from __future__ import annotations

import json

import feedparser
import pytest

from digest import jobs
from tests.e2e.test_web import add, link, make_client

TITLE = r"Sparse $\mathcal{O}(n^2)$ Attention with \textbf{adaptability}"
ABSTRACT = r"We prune tokens for a 6.01$\times$ speedup in attention. Demos: https://swanaigc.github.io/\#swantale."


@pytest.fixture
def client(engine, database_url):
    item = {"paper": {"id": "2601.00001", "title": TITLE, "summary": ABSTRACT, "authors": [{"name": r"L{\'e}o Nicollier"}]}}
    jobs.ingest_bytes(engine, json.dumps([item]).encode(), input="api.json")
    with make_client(engine, database_url) as test_client:
        yield test_client


def test_manage_preview_shows_rendered_titles_and_snippets(client, engine):
    row = add(engine, interests="attention speedup")
    page = client.get(link("manage", row))
    assert page.status_code == 200
    preview = page.text[page.text.index('id="preview-title"'):]
    assert "Sparse 𝒪(n²) Attention with adaptability" in preview
    assert "6.01×" in preview and "<b>" in preview
    assert "\\textbf" not in preview and "$" not in preview


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_served_feeds_show_rendered_text(client, fmt):
    response = client.get(f"/feeds/papers.{fmt}")
    assert response.status_code == 200
    entry = feedparser.parse(response.content).entries[0]
    body = entry.get("summary") or entry.content[0].value
    assert entry.title == "Sparse 𝒪(n²) Attention with adaptability"
    assert "6.01× speedup" in body and "https://swanaigc.github.io/#swantale." in body
