"""`digest papers list` shows titles as readers see them: LaTeX rendered, capped, never Rich markup."""

from __future__ import annotations

import json


def _ingest(cli, tmp_path, items) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps(items))
    ran = cli("ingest", str(path))
    assert ran.exit_code == 0, ran.stderr


def test_table_shows_rendered_titles_and_json_keeps_both(cli, tmp_path):
    title = r"Fast $\mathcal{O}(n^2)$ [bold]Attention[/bold] with \textbf{adaptability}"
    _ingest(cli, tmp_path, [{"paper": {"id": "2601.00001", "title": title, "summary": r"A 6.01$\times$ speedup.",
                                       "authors": [{"name": r"L{\'e}o Nicollier"}]}}])
    table = cli("papers", "list")
    assert table.exit_code == 0
    flat = " ".join(table.stdout.split())
    assert "𝒪(n²)" in flat and "[bold]Attention[/bold]" in flat and "adaptability" in flat and "Léo" in flat
    assert "\\textbf" not in table.stdout and "$" not in table.stdout
    [paper] = cli("papers", "list", "--json").json()
    assert paper["title"] == title  # as stored
    assert paper["display_title"] == "Fast 𝒪(n²) [bold]Attention[/bold] with adaptability"
    assert paper["display_abstract"] == "A 6.01× speedup."


def test_a_huge_title_is_capped_in_the_table(cli, tmp_path):
    _ingest(cli, tmp_path, [{"paper": {"id": "2601.00002", "title": "Word " * 20_000, "summary": "An abstract."}}])
    [paper] = cli("papers", "list", "--json").json()
    assert len(paper["title"]) > 99_000 and len(paper["display_title"]) <= 500
    assert len(cli("papers", "list").stdout) < 5_000


def test_rank_table_shows_rendered_titles_and_snippets(cli, tmp_path):
    _ingest(cli, tmp_path, [{"paper": {"id": "2601.00003", "title": r"Token $\mathcal{O}(n^2)$ pooling",
                                       "summary": r"Token pooling gives a 6.01$\times$ speedup."}}])
    ran = cli("rank", "--query", "pooling speedup")
    assert ran.exit_code == 0, ran.stderr
    flat = " ".join(ran.stdout.split())
    assert "𝒪(n²)" in flat and "6.01×" in flat and "$" not in ran.stdout
