"""What a digest says: headings by day and week, subjects in the subscriber's words, counts that agree."""

from __future__ import annotations

import pytest

from digest.compose import Composer, Links
from digest.compose.wording import count_of, heading, query_items, topics
from digest.models import Digest, Paper, RankedPaper, Subscriber

LINKS = Links(manage_url="https://d.example.org/manage/m", unsubscribe_url="https://d.example.org/unsubscribe/u",
              feed_url="https://d.example.org/feeds/s/f.atom", feedback_url="https://d.example.org/feedback/t")


@pytest.mark.parametrize("period, expected", [
    ("2026-11-28", "Your papers for Saturday 28 November"),
    ("2026-11-27", "Your papers for Friday 27 November"),
    ("2026-W48", "Your papers for the week of 23 November"),
    ("2027-W01", "Your papers for the week of 4 January"),
    ("2026-12-07~1765094400", "Your papers for Monday 7 December"),  # planned again after a schedule change
    ("2026-W50~1765152000", "Your papers for the week of 7 December"),
    ("test-2026-11-28T04:09:38+00:00", "Your test digest"),
    ("preview", "Your next digest (a preview)"),
    ("2026-02-30", "Your papers for 2026-02-30"),  # not a day: shown as it is, never a crash
])
def test_heading_names_the_local_day_or_the_week(period, expected):
    assert heading(period) == expected


@pytest.mark.parametrize("count, text", [(0, "0 new papers"), (1, "1 new paper"), (2, "2 new papers")])
def test_counts_agree_in_number(count, text):
    assert count_of(count) == text


def test_comma_items_are_kept_as_written():
    assert query_items("pruning, data filtering, -medical") == ["pruning", "data filtering"]
    assert query_items('"token pooling" OR normalization') == []
    assert query_items('"a, b", c') == ['"a, b"', "c"]


def item(n: int, *matched: str) -> RankedPaper:
    return RankedPaper(Paper(title=f"Paper {n}", id=n, key=f"k{n}"), 1.0, matched)


def test_subject_topics_are_the_subscribers_phrases_not_split_words():
    papers = [item(1, "data", "filtering"), item(2, "data", "filtering"), item(3, "pruning")]
    assert topics(papers, "pruning, data filtering") == ["data filtering", "pruning"]
    assert topics([item(1, "token pooling")], '"token pooling" OR normalization') == ["token pooling"]


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(base_url="https://d.example.org/")


def digest(period: str, papers: list[RankedPaper], interests: str = "pruning, data filtering") -> Digest:
    return Digest(subscriber=Subscriber(email="a@example.org", interests=interests, id=1), period=period, papers=papers)


def test_rendered_subject_heading_and_counts(composer):
    one = composer.render_digest(digest("2026-W48", [item(1, "data", "filtering")]), LINKS)
    assert one.subject == "1 new paper on data filtering - Paper Digest"
    assert "Your papers for the week of 23 November" in one.html and "Your papers for the week of 23 November" in one.text
    test = composer.render_digest(digest("test-2026-11-28T04:09:38+00:00", [item(1, "pruning"), item(2, "pruning")]),
                                  LINKS)
    assert test.subject.startswith("2 new papers on pruning") and "Your test digest" in test.text
    assert "2026-11-28T04" not in test.text and "2026-11-28T04" not in test.html


def test_papers_show_authors_and_their_abstract_pdf_and_hf_links(composer):
    paper = Paper(title="T", id=7, key="arxiv:2607.00007", authors=("Ada Lovelace", "Alan Turing"),
                  links={"abs": "https://arxiv.org/abs/2607.00007", "pdf": "https://arxiv.org/pdf/2607.00007",
                         "hf": "https://huggingface.co/papers/2607.00007"})
    org = Paper(title="U", id=8, key="k8", organization="Example Lab", links={"javascript": "javascript:alert(1)"})
    email = composer.render_digest(digest("2026-11-28", [RankedPaper(paper, 1.0), RankedPaper(org, 1.0)]), LINKS)
    for text in ("Ada Lovelace, Alan Turing", "Example Lab", 'href="https://arxiv.org/pdf/2607.00007"',
                 'href="https://huggingface.co/papers/2607.00007"', ">PDF</a>", ">Hugging Face</a>"):
        assert text in email.html, text
    assert "PDF: https://arxiv.org/pdf/2607.00007" in email.text and "javascript" not in email.html


def test_likes_give_the_reason_and_feedback_links(composer):
    liked = Paper(title="A liked $\\mathcal{O}(n)$ paper", id=3, key="k3")
    picked = RankedPaper(Paper(title="Picked", id=9, key="k9"), 2.0, ("pruning",), "", liked)
    email = composer.render_digest(digest("2026-11-28", [picked]), LINKS)
    assert "Why you got this: matched pruning \u00b7 like \u201cA liked \U0001d4aa(n) paper\u201d" in email.text
    assert "More like this: https://d.example.org/feedback/t?p=9&v=more" in email.text
    assert 'href="https://d.example.org/feedback/t?p=9&amp;v=less"' in email.html
    only_likes = composer.render_digest(digest("2026-11-28", [picked], interests=""), LINKS)
    assert "picked from the papers you like" in only_likes.text


def test_latex_in_titles_and_snippets_reaches_readers_as_unicode(composer):
    paper = Paper(title="Fast $\\mathcal{O}(n)$ pooling", id=5, key="k5",
                  abstract="A speedup of 6.01$\\times$ with \\textbf{adaptability}, see github.io/\\#swantale")
    snippet = "A <b>speedup</b> of 6.01$\\times$ with \\textbf{adaptability}, see github.io/\\#swantale"
    email = composer.render_digest(digest("2026-11-28", [RankedPaper(paper, 1.0, ("speedup",), snippet)]), LINKS)
    for part in (email.text, email.html):
        assert "6.01\u00d7" in part and "adaptability" in part and "github.io/#swantale" in part
        assert "\\times" not in part and "\\textbf" not in part and "\\mathcal" not in part


def _plain_topics(papers, query: str, limit: int = 3) -> list[str]:
    """topics() without its caches: every term of every paper counted for its comma item."""
    from digest.compose.wording import _topic_of
    items = tuple(query_items(query))
    counts: dict[str, int] = {}
    for rp in papers:
        for topic in dict.fromkeys(_topic_of.__wrapped__(term, items) for term in rp.matched):
            if topic:
                counts[topic] = counts.get(topic, 0) + 1
    return sorted(counts, key=counts.__getitem__, reverse=True)[:limit]


@pytest.mark.parametrize("query", ["pruning, data filtering", '"token pooling" OR normalization', "", "naïve, 東京 tokyo, -x",
                                   "a, b, c, d"])
def test_cached_topics_are_the_plain_count(query):
    terms = [("pruning",), ("data", "filtering"), ("token pooling", "normalization"), ("naïve",), ("東京", "tokyo"),
             ("a",), ("b", "c"), ("d",), ("", " "), ()]
    for start in range(len(terms)):
        papers = [RankedPaper(Paper(title="t", id=n), 1.0, list(matched) if n % 2 else matched)
                  for n, matched in enumerate(terms[start:] + terms[:start])]
        for limit in (1, 3, 10):
            shown = topics(papers, query, limit)
            assert shown == _plain_topics(papers, query, limit)
            shown.append("mutated")  # the caller's own list
            assert topics(papers, query, limit) == _plain_topics(papers, query, limit)
