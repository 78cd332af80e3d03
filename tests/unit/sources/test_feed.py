"""RSS / Atom parser: golden files (arXiv RSS, arXiv API, a third-party HF feed), hostile input."""

from __future__ import annotations

import json
from datetime import date
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import SnapshotError
from digest.sources import feed

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def read(samples, data_dir):
    """Parse a fixture by path relative to digest/samples/ or tests/data/."""

    def parse_file(name: str):
        path = samples / name if (samples / name).exists() else data_dir / name
        return feed.parse(path.read_bytes())

    return parse_file


def rss_item(title: str = "T", body: str = "", extra: str = "") -> str:
    return f"<item><title>{title}</title><description>{body}</description>{extra}</item>"


def rss(*items: str, channel: str = "", arxiv: bool = False) -> bytes:
    ns = ' xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    head = f'<rss version="2.0"{ns if arxiv else ""}><channel><title>c</title>{channel}'
    return (head + "".join(items) + "</channel></rss>").encode()


def assert_clean(text: str) -> None:
    assert text == text.strip() and "  " not in text and "\n" not in text and "\t" not in text


# --- arXiv RSS -------------------------------------------------------------------------


def test_arxiv_rss_new_cross_replace(read):
    result = read("feeds/arxiv-rss-new-cross-replace.xml")
    assert result.format == "arxiv-rss"
    assert result.warnings == []
    assert [p.arxiv_id for p in result.papers] == ["2609.26811", "2609.26820", "2205.06398", "2009.13987"]
    assert [p.announce_type for p in result.papers] == ["new", "new", "cross", "replace"]
    assert [p.doi for p in result.papers] == [None, None, "10.1093/bioinformatics/btac431", None]
    cross = result.papers[2]
    assert cross.title == "Outlier Detection for Multi-Network Data"
    assert cross.authors == ("Pritam Dey", "Zhengwu Zhang", "David B. Dunson")
    assert cross.author_count == 3
    assert cross.categories == ("stat.ME", "stat.AP", "stat.ML")
    assert cross.links["abs"] == "https://arxiv.org/abs/2205.06398"
    assert cross.links["pdf"] == "https://arxiv.org/pdf/2205.06398"
    assert "hf" not in cross.links


def test_arxiv_rss_abstract_loses_the_announce_prefix(read):
    for paper in read("feeds/arxiv-rss-new-cross-replace.xml").papers:
        assert "Announce Type" not in paper.abstract and not paper.abstract.startswith(("arXiv:", "Abstract"))
        assert_clean(paper.abstract)
    first = read("feeds/arxiv-rss-new-cross-replace.xml").papers[0]
    assert first.abstract.startswith("Local learning trains each layer with its own auxiliary loss")
    assert first.authors == ("Fabien Polly",)


def test_arxiv_rss_listing_day_is_the_pubdate_in_its_own_zone(read):
    result = read("feeds/arxiv-rss-new-cross-replace.xml")
    assert result.listing_day == date(2026, 9, 24)
    assert {p.listing_day for p in result.papers} == {date(2026, 9, 24)}
    late = rss(rss_item(), channel="<pubDate>Thu, 24 Sep 2026 22:30:00 -0400</pubDate>", arxiv=True)
    assert feed.parse(late).listing_day == date(2026, 9, 24)  # 02:30 on the 25th in UTC


@pytest.mark.parametrize(
    "name,count,day",
    [
        ("feeds/arxiv-rss-cs-ai.xml", 3, date(2026, 4, 27)),
        ("more/arxiv_rss/distill__cs_cl__2026-04-27.rss.xml", 3, date(2026, 4, 27)),
        ("more/arxiv_rss/distill__cs_lg__2026-04-27.rss.xml", 3, date(2026, 4, 27)),
    ],
)
def test_arxiv_rss_fixtures(read, name, count, day):
    result = read(name)
    assert (result.format, len(result.papers), result.listing_day, result.warnings) == ("arxiv-rss", count, day, [])
    assert all(p.announce_type == "new" and p.abstract and p.authors for p in result.papers)


def test_arxiv_rss_long_author_list_and_stray_spaces(read):
    second = read("feeds/arxiv-rss-cs-ai.xml").papers[1]
    assert second.arxiv_id == "2604.21936"
    assert second.author_count == 18
    assert second.authors[:2] == ("Lianrui Zuo", "Yihao Liu") and second.authors[-1] == "Bennett A. Landman"
    first = read("more/arxiv_rss/distill__cs_cl__2026-04-27.rss.xml").papers[0]
    assert first.authors == ("Anamta Khan", "Ratna Kandala", "Deepti", "Sheza Munir", "Joyojeet Pal")


def test_arxiv_rss_entities_are_unescaped(read):
    first = read("more/arxiv_rss/distill__cs_lg__2026-04-27.rss.xml").papers[0]
    assert "visual resolution & stride" in first.abstract


@pytest.mark.parametrize(
    "creator,names",
    [
        ("Ann Lee, Bo Chen, and Cy Diaz", ("Ann Lee", "Bo Chen", "Cy Diaz")),
        ("Ann Lee and Bo Chen", ("Ann Lee", "Bo Chen")),
        ("Ann Lee", ("Ann Lee",)),
    ],
)
def test_arxiv_rss_author_list_with_and(creator, names):
    item = rss_item(extra=f"<guid>oai:arXiv.org:2601.00001v2</guid><dc:creator>{creator}</dc:creator>")
    paper = feed.parse(rss(item, arxiv=True)).papers[0]
    assert paper.authors == names
    assert paper.arxiv_id == "2601.00001"


def test_weekend_feed_is_empty_not_an_error(read):
    result = read("feeds/arxiv-rss-weekend-empty.xml")
    assert (result.format, result.papers, result.warnings) == ("arxiv-rss", [], [])
    assert result.listing_day == date(2026, 8, 1)


# --- arXiv API Atom --------------------------------------------------------------------


def test_arxiv_api_query(read):
    result = read("feeds/arxiv-api-query.atom.xml")
    assert (result.format, len(result.papers), result.listing_day) == ("arxiv-api", 5, None)
    mana = result.papers[0]
    assert mana.arxiv_id == "2606.13677"
    assert mana.title == "Mana: Dexterous Manipulation of Articulated Tools"
    assert mana.authors == ("Zhao-Heng Yin", "Guanya Shi", "Pieter Abbeel", "C. Karen Liu")
    assert mana.published == date(2026, 6, 11)
    assert mana.listing_day is None and mana.announce_type is None
    assert mana.categories == ("cs.RO", "cs.AI", "cs.CV", "cs.LG")
    assert mana.links["abs"] == "https://arxiv.org/abs/2606.13677"
    assert mana.links["project"] == "https://zhaohengyin.github.io/mana"
    assert "(<1 minute per tool)" in mana.abstract


def test_arxiv_api_legacy_response(read):
    result = read("more/arxiv_api/arxivpy__au_del_maestro_legacy__2016-10-09.atom.xml")
    assert (result.format, len(result.papers)) == ("arxiv-api", 10)
    ids = [p.arxiv_id for p in result.papers]
    assert ids[:3] == ["1201.4869", "cond-mat/0412498", "cond-mat/0603029"]
    assert result.papers[1].links["abs"] == "https://arxiv.org/abs/cond-mat/0412498"
    stripe = result.papers[2]
    assert stripe.title == (
        "From stripe to checkerboard order on the square lattice in the presence of quenched disorder"
    )
    assert stripe.authors == ("Adrian Del Maestro", "Bernd Rosenow", "Subir Sachdev")
    assert result.papers[0].doi == "10.1142/S021797921244002X"
    assert all(p.doi for p in result.papers)
    for paper in result.papers:
        assert_clean(paper.title)
        assert_clean(paper.abstract)


def test_arxiv_api_fifty_entries_and_code_link(read):
    result = read("more/arxiv_api/ai-weekly-radar__cs_AI_OR_cs_LG_max50__2026-07-13.atom.xml")
    assert (result.format, len(result.papers), result.warnings) == ("arxiv-api", 50, [])
    assert len({p.arxiv_id for p in result.papers}) == 50
    by_id = {p.arxiv_id: p for p in result.papers}
    assert by_id["2607.09474"].links["code"] == "https://github.com/eth-sri/proof-council"


def test_arxiv_api_recorded_http_body(data_dir):
    path = data_dir / "more/arxiv_api/arxivpy__q_testing_s0_m10__2026-04-12.recorded-http.json"
    recorded = json.loads(path.read_text())
    result = feed.parse(recorded["body"].encode("utf-8"))
    assert (result.format, len(result.papers)) == ("arxiv-api", 10)
    assert result.papers[0].arxiv_id == "2202.12139"
    assert result.papers[0].title.startswith("Testing Deep Learning Models: A First Comparative Study")


# --- generic feeds (the third-party HF feed) ---------------------------------------------


def test_thirdparty_hf_feed(read):
    result = read("feeds/hf-papers-thirdparty-2026-08-05.xml")
    assert (result.format, len(result.papers), result.warnings, result.listing_day) == ("rss", 40, [], None)
    first = result.papers[0]
    assert first.title == "Compute Globally, Materialize Locally: The Memory Contract of Sparse Event-KV"
    assert first.arxiv_id == "2607.23693"
    assert first.authors == ("Zefeng Cai", "Zerui Cai")
    assert first.upvotes == 3
    assert first.published == date(2026, 7, 26)
    assert first.abstract.startswith("Long-horizon agents increasingly reuse their KV cache as memory")
    assert first.links["hf"] == "https://huggingface.co/papers/2607.23693"
    assert result.papers[-1].upvotes == 140
    for paper in result.papers:
        assert not any(word in paper.abstract for word in ("Summary:", "Authors:", "Upvotes:", "thumbnail", "<img"))
        assert paper.authors and paper.upvotes is not None
        assert_clean(paper.abstract)


def test_thirdparty_hf_feed_keeps_angle_bracket_words(read):
    result = read("more/hf_papers_rss_thirdparty/huangboming__daily_feed__2026-08-06.rss.xml")
    assert len(result.papers) == 37
    assert any("an in-vocabulary <SEG> trigger" in p.abstract for p in result.papers)


def test_thirdparty_hf_feed_single_item_with_zero_upvotes(read):
    result = read("more/hf_papers_rss_thirdparty/huangboming__daily_feed__2026-08-07.rss.xml")
    assert [(p.arxiv_id, p.upvotes, p.author_count) for p in result.papers] == [("2608.06374", 0, 15)]


def test_generic_feed_html_is_stripped_and_links_classified():
    body = escape(
        "<p>Intro &amp; <i>more</i></p><script>alert(1)</script><p>for n&lt;k, CO<sub>2</sub></p>"
    )
    item = rss_item(
        title="CO&lt;sub&gt;2&lt;/sub&gt;  capture\n  study",
        body=body,
        extra="<link>https://doi.org/10.1000/xyz.1</link><dc:creator>Smith, J.; Doe, A.</dc:creator>",
    )
    paper = feed.parse(rss(item).replace(b"<rss ", b'<rss xmlns:dc="http://purl.org/dc/elements/1.1/" ')).papers[0]
    assert paper.title == "CO2 capture study"
    assert paper.abstract == "Intro & more for n<k, CO2"
    assert paper.doi == "10.1000/xyz.1"
    assert paper.arxiv_id is None
    assert paper.authors == ("Smith, J.", "Doe, A.")
    assert paper.links == {"link": "https://doi.org/10.1000/xyz.1"}


def test_generic_atom_feed_versions_are_stripped_and_bad_urls_dropped():
    doc = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title>
      <entry><title type="html">A &lt;b&gt;bold&lt;/b&gt; title</title><id>urn:x</id>
        <link href="https://arxiv.org/pdf/2601.01234v3"/><link rel="related" href="javascript:alert(1)"/>
        <link rel="related" href="https://github.com/org/repo"/>
        <updated>2026-01-05T23:30:00-08:00</updated><summary>Plain n&lt;k</summary></entry></feed>"""
    result = feed.parse(doc)
    assert result.format == "atom"
    paper = result.papers[0]
    assert (paper.title, paper.arxiv_id, paper.abstract) == ("A bold title", "2601.01234", "Plain n<k")
    assert paper.published == date(2026, 1, 5)
    assert paper.links["code"] == "https://github.com/org/repo"
    assert not any("javascript" in url for url in paper.links.values())


def test_entries_without_title_are_skipped_with_a_warning():
    result = feed.parse(rss(rss_item(title=""), rss_item(title="Kept")))
    assert [p.title for p in result.papers] == ["Kept"]
    assert result.warnings == ["entry 1: no title, skipped"]


def test_repeated_arxiv_id_is_kept_for_the_diff_to_merge():
    link = "<link>https://arxiv.org/abs/2601.00001v1</link>"
    result = feed.parse(rss(rss_item("A", extra=link), rss_item("B", extra=link)))
    assert [p.title for p in result.papers] == ["A", "B"]
    assert result.warnings == ["entry 2: arXiv:2601.00001 listed again (entry 1); merged"]


def test_truncated_feed_is_read_with_a_warning(samples):
    data = (samples / "feeds/arxiv-rss-cs-ai.xml").read_bytes()
    result = feed.parse(data[: len(data) * 2 // 3])
    assert result.format == "arxiv-rss"
    assert 1 <= len(result.papers) <= 3
    assert any("not well-formed" in w for w in result.warnings)


# --- hostile and wrong input -------------------------------------------------------------


def billion_laughs(encoding: str = "utf-8") -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    doc = f'<?xml version="1.0" encoding="{encoding}"?>\n<!DOCTYPE rss [{"".join(levels)}]>\n'
    return (doc + '<rss version="2.0"><channel><title>&lol9;</title></channel></rss>').encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "cp037"])
def test_entity_declarations_are_refused(encoding):
    with pytest.raises(SnapshotError, match="entity declarations are not allowed"):
        feed.parse(billion_laughs(encoding))


def test_external_entity_is_refused():
    doc = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<rss><channel><title>&x;</title></channel></rss>"
    )
    with pytest.raises(SnapshotError, match="possible XML bomb"):
        feed.parse(doc)


@pytest.mark.parametrize(
    "data,says",
    [
        (b"", "empty input"),
        (b"  \n ", "empty input"),
        (b"<!DOCTYPE html><html><head><title>Hi</title></head><body><p>x</p></body></html>", "HTML page"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "SVG"),
        (b'<?xml version="1.0"?><catalog><book/></catalog>', "<catalog>"),
        (b'[{"paper": {"title": "x"}}]', "JSON"),
        (bytes(range(256)) * 8, "binary"),
        (b"just some words", "no XML markup"),
    ],
)
def test_non_feeds_are_named(data, says):
    with pytest.raises(SnapshotError) as caught:
        feed.parse(data)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bytes_naming_a_file_are_not_read(tmp_path, samples):
    path = tmp_path / "feed.xml"
    path.write_bytes((samples / "feeds/arxiv-rss-cs-ai.xml").read_bytes())
    with pytest.raises(SnapshotError):
        feed.parse(str(path).encode())


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_snapshot_error(data):
    try:
        result = feed.parse(data)
    except SnapshotError:
        return
    assert all(paper.title for paper in result.papers)


@FUZZ
@given(st.text(max_size=500))
def test_arbitrary_text_raises_only_snapshot_error(text):
    wrapped = f"<rss version='2.0'><channel>{text}</channel></rss>"
    for data in (text.encode("utf-8", "surrogatepass"), wrapped.encode("utf-8", "surrogatepass")):
        try:
            result = feed.parse(data)
        except SnapshotError:
            continue
        assert all(paper.title for paper in result.papers)


@FUZZ
@given(st.text(max_size=200), st.text(max_size=400), st.text(max_size=100))
def test_any_field_text_comes_out_clean(title, body, creator):
    item = rss_item(escape(title), escape(body), f"<dc:creator>{escape(creator)}</dc:creator>")
    try:
        result = feed.parse(rss(item, arxiv=True))
    except SnapshotError:
        return  # e.g. text that is not valid XML (control characters)
    for paper in result.papers:
        for text in (paper.title, paper.abstract, *paper.authors):
            assert_clean(text)
            assert not any(ord(ch) < 32 for ch in text)
