"""Ranked papers shared between digests (Renderer.digest_of) render as fresh copies would.

The Renderer hands the Composer the same RankedPaper object for every digest that lists a
paper the same way, and the Composer then finds the item by identity: these tests compare that
fast path with rendering fresh copies in a fresh Composer, on text that is hard to carry
through %-formats and caches (%, non-ASCII, LaTeX, long words), with and without feedback links.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
import time_machine

from digest.compose import Composer, Links
from digest.jobs.rendering import MailSetup, PlannedRow, Renderer
from digest.models import Digest, Paper, RankedPaper, Subscriber

BASE = "https://digest.example.org"
LINKS = Links(manage_url=f"{BASE}/manage/m%41", unsubscribe_url=f"{BASE}/unsubscribe/u", feed_url=f"{BASE}/feeds/f.atom",
              feedback_url=f"{BASE}/feedback/a%2Fb")
TITLES = ["50% off %s %(x)s", "Naïve café — 東京 🙂 résumé", "Bounds of $\\mathcal{O}(n^2)$ via \\textbf{pooling}",
          "x" * 120 + " " + "y" * 45, "Plain title"]
ABSTRACT = ("We study token pooling, 100% of the time %d; naïve pools {pooled} 6.01$\\times$ faster "
            + "z" * 60 + " & <tags> pooling. ")


def _papers() -> dict[int, Paper]:
    found = {n: Paper(title=title, abstract=ABSTRACT * 3, authors=("Ada Lovelace", "José Núñez"), upvotes=n,
                      links={"abs": f"https://arxiv.org/abs/2411.0000{n}"}, key=f"k{n}", id=n)
             for n, title in enumerate(TITLES, start=1)}
    found[99] = Paper(title="Liked: 100% {neat}", abstract="", id=99, key="k99")
    return found


def _fresh(rp: RankedPaper) -> RankedPaper:
    return dataclasses.replace(rp, paper=dataclasses.replace(rp.paper),
                               because=dataclasses.replace(rp.because) if rp.because else None)


@pytest.mark.parametrize("feedback_url", [LINKS.feedback_url, ""])
def test_a_shared_ranked_paper_renders_as_a_fresh_copy(feedback_url):
    papers = _papers()
    shared = [RankedPaper(p, 1.0, ("pooling", "naïve"), f"<b>pool</b> {p.title[:20]} 100%", papers[99] if n % 2 else None)
              for n, p in enumerate(papers.values()) if p.id != 99]
    anonymous = RankedPaper(dataclasses.replace(papers[1], id=None, key=None), 2.0, ("x",), "50% <b>x</b>")
    links = dataclasses.replace(LINKS, feedback_url=feedback_url)
    composer = Composer(base_url=BASE + "/")
    for turn in range(3):  # the first builds the items, the rest find them by identity
        who = Subscriber(email=f"r{turn}@example.org", interests="pooling, naïve", id=turn + 1, status="active")
        order = shared[turn:] + shared[:turn] + [anonymous]
        got = composer.render_digest(Digest(subscriber=who, period="2026-12-07", papers=order), links)
        plain = Composer(base_url=BASE + "/").render_digest(
            Digest(subscriber=who, period="2026-12-07", papers=[_fresh(rp) for rp in order]), links)
        assert (got.subject, got.text, got.html) == (plain.subject, plain.text, plain.html)


def test_a_shared_ranked_paper_with_and_without_feedback_links():
    """The identity cache keeps whether the item had feedback links: no mix-up either way."""
    papers = _papers()
    rp = RankedPaper(papers[1], 1.0, ("pooling",), "<b>pooling</b> 100%")
    who = Subscriber(email="r@example.org", interests="pooling", id=1, status="active")
    composer = Composer(base_url=BASE + "/")
    for feedback_url in ("", LINKS.feedback_url, "", LINKS.feedback_url):
        links = dataclasses.replace(LINKS, feedback_url=feedback_url)
        got = composer.render_digest(Digest(subscriber=who, period="2026-12-07", papers=[rp]), links)
        plain = Composer(base_url=BASE + "/").render_digest(
            Digest(subscriber=who, period="2026-12-07", papers=[_fresh(rp)]), links)
        assert got == plain
        assert ("v=more" in got.text) is bool(feedback_url)


def _setup() -> MailSetup:
    return MailSetup(base_url=BASE, secret="s" * 40, from_addr="digest@example.org", from_name="Paper Digest",
                     domain="example.org", list_id="digest.example.org", id_salt="salt")


def _row(number: int, items: list) -> PlannedRow:
    return PlannedRow(id=number, kind="digest", period="2026-12-07", items=items,
                      created_at=datetime(2026, 12, 7, 4, 0, tzinfo=UTC))


def test_digest_of_shares_ranked_papers_only_while_they_are_the_same():
    renderer = Renderer(_setup())
    papers = _papers()
    items = [[1, 2.5, ["pooling"]], [2, 1.5, ["naïve", "pools"], 99], [3, 1.0, ["pooling"], None], [404, 1.0, ["gone"]]]
    who = Subscriber(email="r@example.org", interests="pooling", id=1, status="active")
    first = renderer.digest_of(_row(1, items), who, papers)
    again = renderer.digest_of(_row(2, [list(item) for item in items]), who, papers)
    assert [rp.paper.id for rp in first.papers] == [1, 2, 3]  # the deleted paper is left out
    assert all(a is b for a, b in zip(first.papers, again.papers))
    assert first.papers[1].because is papers[99] and first.papers[2].because is None
    # What a fresh Renderer (no sharing) makes of the same row.
    plain = Renderer(_setup()).digest_of(_row(1, items), who, papers)
    assert first.papers == plain.papers
    # Papers read afresh (new objects, changed text): new ranked papers with new snippets.
    reread = {n: dataclasses.replace(p, abstract=p.abstract.replace("pooling", "Pooling")) for n, p in papers.items()}
    other = renderer.digest_of(_row(3, items), who, reread)
    assert all(rp.paper is reread[rp.paper.id] for rp in other.papers)
    assert other.papers[1].because is reread[99]
    # Another score is another ranked paper.
    rescored = renderer.digest_of(_row(4, [[1, 9.0, ["pooling"]]]), who, papers)
    assert rescored.papers[0].score == 9.0 and rescored.papers[0] is not first.papers[0]


def test_messages_from_shared_ranked_papers_are_those_of_a_fresh_renderer():
    papers = _papers()
    items = [[n, 1.0 + n, ["pooling", "naïve"], 99 if n % 2 else None] for n in range(1, 6)]
    now = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    renderer = Renderer(_setup())
    # Link tokens carry their signing second: the clock stands still so both renders share it.
    with time_machine.travel(now, tick=False):
        for number in range(1, 4):
            who = Subscriber(email=f"r{number}@example.org", interests="pooling, naïve", id=number, status="active",
                             link_secret=f"secret{number}", feed_token=f"feed{number}")
            row = _row(number, items[number - 1:] + items[:number - 1])
            got = renderer.message(row, who, papers, now)
            plain = Renderer(_setup()).message(row, who, papers, now)
            assert got.data == plain.data
