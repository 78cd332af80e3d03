"""Feeds and HF API responses through ingest, with the identity rules across formats."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from digest.jobs import ingest_bytes
from digest.store.papers import list_papers
from digest.store.tables import papers

# (file under the samples or test data folder, format, papers, listing day)
FIXTURES = [
    ("feeds/arxiv-rss-cs-ai.xml", "arxiv-rss", 3, "2026-04-27"),
    ("feeds/arxiv-rss-new-cross-replace.xml", "arxiv-rss", 4, "2026-09-24"),
    ("feeds/arxiv-rss-weekend-empty.xml", "arxiv-rss", 0, "2026-08-01"),
    ("feeds/arxiv-api-query.atom.xml", "arxiv-api", 5, None),
    ("feeds/hf-papers-thirdparty-2026-08-05.xml", "rss", 40, None),
    ("hf-api/daily-papers-5-pretty.json", "hf-api", 5, "2026-07-31"),
    ("hf-api/daily-papers-limit30.json", "hf-api", 30, "2026-06-12"),
    ("more/arxiv_api/ai-weekly-radar__cs_AI_OR_cs_LG_max50__2026-07-13.atom.xml", "arxiv-api", 50, None),
    ("more/arxiv_api/arxivpy__au_del_maestro_legacy__2016-10-09.atom.xml", "arxiv-api", 10, None),
    ("more/arxiv_rss/distill__cs_cl__2026-04-27.rss.xml", "arxiv-rss", 3, "2026-04-27"),
    ("more/hf_papers_rss_thirdparty/huangboming__daily_feed__2026-08-07.rss.xml", "rss", 1, None),
    ("more/hf_daily_papers_api/ai-weekly-radar__limit25__2026-07-13.json", "hf-api", 25, "2026-07-13"),
    ("more/hf_daily_papers_api/llm-paper-radar__3items_pretty__2026-05-08.json", "hf-api", 3, "2026-05-08"),
]


def fixture_path(samples, data_dir, name):
    return (data_dir if name.startswith("more/") else samples) / name


@pytest.mark.parametrize("name,format,count,day", FIXTURES, ids=[f[0].split("/")[-1] for f in FIXTURES])
def test_each_fixture_ingests_with_its_counts(engine, samples, data_dir, name, format, count, day):
    report = ingest_bytes(engine, fixture_path(samples, data_dir, name).read_bytes(), input=name)
    assert (report.format, report.papers, report.new, report.updated) == (format, count, count, 0)
    assert (report.listing_day.isoformat() if report.listing_day else None) == day
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(papers)).scalar_one() == count


def _arxiv_rss(items: str) -> bytes:
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
<channel><title>cs.LG updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link>
<description>x</description><pubDate>Mon, 21 Sep 2026 00:00:00 -0400</pubDate>{items}</channel></rss>""".encode()


def _item(arxiv_id: str, title: str, abstract: str, kind: str) -> str:
    return f"""<item><title>{title}</title><link>https://arxiv.org/abs/{arxiv_id}</link>
<description>arXiv:{arxiv_id}v1 Announce Type: {kind}
Abstract: {abstract}</description><guid isPermaLink="false">oai:arXiv.org:{arxiv_id}v1</guid>
<category>cs.LG</category><pubDate>Mon, 21 Sep 2026 00:00:00 -0400</pubDate>
<arxiv:announce_type>{kind}</arxiv:announce_type><dc:creator>Michael Joswig, Marek Kaluba</dc:creator></item>"""


def test_replace_of_a_known_paper_is_an_update_and_cross_is_the_same_paper(engine, samples):
    earlier = _arxiv_rss(
        _item("2009.13987", "Random Polytope Descriptors", "An older abstract about random polytopes.", "new")
        + _item("2205.06398", "Outlier Detection for Multi-Network Data", "It has become routine.", "new")
    )
    first = ingest_bytes(engine, earlier, input="earlier")
    assert first.new == 2
    report = ingest_bytes(engine, (samples / "feeds" / "arxiv-rss-new-cross-replace.xml").read_bytes(), input="today")
    assert report.papers == 4
    assert report.new == 2  # the two `new` items
    assert report.updated == 2  # the replace (new text) and the cross (adds its DOI and categories)
    with engine.connect() as conn:
        stored = {p.arxiv_id: p for p in list_papers(conn)}
    assert len(stored) == 4
    replaced = stored["2009.13987"]
    assert replaced.abstract.startswith("We introduce a class of random polytopes")
    assert replaced.authors == ("Michael Joswig", "Marek Kaluba", "Lukas Ruff")
    assert stored["2205.06398"].doi == "10.1093/bioinformatics/btac431"


def test_the_same_paper_from_hf_api_and_arxiv_atom_is_one_paper(engine, data_dir):
    radar_api = data_dir / "more/hf_daily_papers_api/ai-weekly-radar__limit25__2026-07-13.json"
    radar_atom = data_dir / "more/arxiv_api/ai-weekly-radar__cs_AI_OR_cs_LG_max50__2026-07-13.atom.xml"
    api = ingest_bytes(engine, radar_api.read_bytes(), input="api")
    atom = ingest_bytes(engine, radar_atom.read_bytes(), input="atom")
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(papers)).scalar_one()
        shared = [p for p in list_papers(conn) if p.links.get("hf") and p.links.get("pdf")]
    assert total == api.new + atom.new
    assert atom.updated + atom.unchanged == atom.papers - atom.new
    assert all(p.key == f"arxiv:{p.arxiv_id}" for p in shared)


def test_weekend_feed_through_the_cli_exits_zero(cli, samples):
    ran = cli("ingest", "--json", str(samples / "feeds" / "arxiv-rss-weekend-empty.xml"))
    assert ran.exit_code == 0
    assert ran.json_lines()[0]["papers"] == 0
