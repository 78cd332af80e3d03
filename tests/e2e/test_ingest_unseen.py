"""`digest ingest` on inputs shaped unlike the shipped fixtures (tests/data/unseen/): every
paper stored with its title, nothing invented, bad input refused in one line."""

from __future__ import annotations

import gzip
from pathlib import Path

UNSEEN = Path(__file__).resolve().parents[1] / "data" / "unseen"
TITLES = {
    "3D HAMSTER: Bridging Planning and Control in Hierarchical Vision Language Action Models through 3D Trajectory Guidance",
    "TerraDiT-$Ω$: Unified Spatial Control for Satellite Image Synthesis with Any Geospatial Primitive",
    "Mapping Text to Multiplex Graph: Prompt Compression as Lévy Walk-Guided Graph Pruning",
    "Calibrating the Evaluator: Does Probability Calibration Mitigate Preference Coupling in LLM Agent Feedback Loops?",
}
PAGES = ("hf-page-submitted-by-lines.txt", "hf-page-upvotes-on-own-line.txt", "hf-page-nav-submitted-one-line-meta.txt",
         "hf-page-whole-page-copied.txt", "hf-page-firefox-wrapped.txt", "hf-page-names-under-titles.txt")


def stored(cli) -> list[dict]:
    ran = cli("papers", "list", "--json")
    assert ran.exit_code == 0, ran.stderr
    return ran.json()



def refusal_line(ran, path) -> str:
    """The one line on stderr of a run that exited 1, checked to name the input."""
    assert ran.exit_code == 1, ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], ran.stderr
    return lines[0]

def test_other_page_layouts_store_the_four_papers_and_nothing_else(cli):
    for name in PAGES:
        ran = cli("ingest", "--json", str(UNSEEN / name))
        assert ran.exit_code == 0, ran.stderr
        report = ran.json_lines()[0]
        assert (report["format"], report["papers"], report["warnings"]) == ("hf-page", 4, [])
    papers = stored(cli)
    assert {p["title"] for p in papers} == TITLES
    assert all(len(p["abstract"]) > 1000 for p in papers)


def test_a_titles_only_page_is_refused_in_one_line_and_writes_nothing(cli):
    path = UNSEEN / "hf-page-titles-only.txt"
    assert "expected a title followed by its abstract" in refusal_line(cli("ingest", str(path)), path)
    assert stored(cli) == []


def test_gzip_utf16_and_legacy_arxiv_inputs_through_the_command(cli):
    names = ("daily-papers-5.json.gz", "hf-page-utf16.txt", "arxiv-rss-utf16.xml", "arxiv-rss-legacy-rdf.xml")
    ran = cli("ingest", "--json", *(str(UNSEEN / name) for name in names))
    assert ran.exit_code == 0, ran.stderr
    assert [(r["format"], r["papers"]) for r in ran.json_lines()] == [
        ("hf-api", 5), ("hf-page", 4), ("arxiv-rss", 4), ("arxiv-rss", 3)]
    titles = {p["title"] for p in stored(cli)}
    assert TITLES <= titles and "Random Polytope Descriptors" in titles
    assert not any("(arXiv:" in title for title in titles)


def test_gzip_that_unpacks_over_the_cap_is_refused_in_one_line(cli, monkeypatch, tmp_path):
    path = tmp_path / "big.json.gz"
    path.write_bytes(gzip.compress(b" " * 200_000 + b"[]"))
    monkeypatch.setenv("DIGEST_MAX_SNAPSHOT_BYTES", "100000")
    assert "unpacks to more than 0.1 MB" in refusal_line(cli("ingest", str(path)), path)


def test_a_bibtex_library_with_tex_accents_matches_the_listed_papers_by_title(cli):
    assert cli("ingest", str(UNSEEN / "hf-page-submitted-by-lines.txt")).exit_code == 0
    assert cli("subscribers", "add", "ada@example.org", "--confirmed").exit_code == 0
    ran = cli("subscribers", "import-library", "ada@example.org", str(UNSEEN / "library-tex.bib"), "--json")
    assert ran.exit_code == 0, ran.stderr
    assert (ran.json()["entries"], ran.json()["matched"], ran.json()["new"], ran.json()["problems"]) == (4, 3, 1, [])


def test_an_arxiv_api_error_response_is_refused_in_one_line_and_writes_nothing(cli):
    path = UNSEEN / "arxiv-api-error.atom.xml"
    assert "incorrect id format" in refusal_line(cli("ingest", str(path)), path)
    assert stored(cli) == []


def test_a_reference_library_given_to_ingest_points_to_import_library(cli):
    path = UNSEEN / "library-tex.bib"
    assert "import-library" in refusal_line(cli("ingest", str(path)), path)
