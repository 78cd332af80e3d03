"""Likes, dislikes and library imports through the real `digest subscribers` commands."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from digest.store.db import open_engine
from digest.store.tables import paper_votes, papers

FEED = "feeds/arxiv-rss-cs-ai.xml"  # papers 2604.21935, 2604.21936, 2604.21937


@pytest.fixture
def stocked(cli, samples):
    assert cli("ingest", str(samples / FEED)).exit_code == 0
    assert cli("subscribers", "add", "ada@example.org", "--confirmed").exit_code == 0
    return cli


def counts(database_url) -> tuple[int, int]:
    engine = open_engine(database_url)
    with engine.connect() as conn:
        result = (conn.execute(select(func.count()).select_from(paper_votes)).scalar_one(),
                  conn.execute(select(func.count()).select_from(papers)).scalar_one())
    engine.dispose()
    return result


def one_error_line(ran) -> str:
    assert ran.exit_code == 1, (ran.stdout, ran.stderr)
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    return lines[0]


def test_like_dislike_unlike_and_list(stocked):
    cli = stocked
    liked = cli("subscribers", "like", "ada@example.org", "2604.21935v1", "arXiv:2604.21936", "--json")
    assert liked.exit_code == 0, liked.stderr
    assert liked.json()["changed"] == 2
    assert cli("subscribers", "dislike", "ada@example.org", "https://arxiv.org/abs/2604.21937").exit_code == 0
    shown = cli("subscribers", "likes", "ada@example.org", "--json").json()
    assert {(p["arxiv_id"], p["vote"]) for p in shown} == {
        ("2604.21935", "like"), ("2604.21936", "like"), ("2604.21937", "dislike")}
    assert all(p["origin"] == "cli" for p in shown)
    # Voting again changes nothing; a dislike can replace a like.
    assert cli("subscribers", "like", "ada@example.org", "2604.21935", "--json").json()["changed"] == 0
    assert cli("subscribers", "dislike", "ada@example.org", "2604.21935", "--json").json()["changed"] == 1
    assert cli("subscribers", "unlike", "ada@example.org", "2604.21935", "2604.21937").exit_code == 0
    assert [p["arxiv_id"] for p in cli("subscribers", "likes", "ada@example.org", "--json").json()] == ["2604.21936"]


def test_an_unknown_id_names_it_and_writes_nothing(stocked, database_url):
    before = counts(database_url)
    line = one_error_line(stocked("subscribers", "like", "ada@example.org", "2604.21935", "2999.99999", "nonsense"))
    assert "'2999.99999'" in line and "'nonsense'" in line and "nothing changed" in line
    assert counts(database_url) == before
    assert "no subscriber" in one_error_line(stocked("subscribers", "like", "bob@example.org", "2604.21935"))


def test_library_import_is_a_dry_run_until_applied_and_stores_unknown_papers(stocked, data_dir, database_url, tmp_path):
    cli = stocked
    library = tmp_path / "mine.bib"
    library.write_text("@article{a, title={Math Takes Two: A test for emergent mathematical reasoning in communication}}\n"
                       "@article{b, title={A paper no listing carried}, abstract={About token pooling.},"
                       " eprint={2601.00001}, archivePrefix={arXiv}}\n")
    before = counts(database_url)
    dry = cli("subscribers", "import-library", "ada@example.org", str(library), "--json")
    assert dry.exit_code == 0, dry.stderr
    assert (dry.json()["matched"], dry.json()["new"], dry.json()["applied"]) == (1, 1, False)
    assert counts(database_url) == before
    applied = cli("subscribers", "import-library", "ada@example.org", str(library), "--apply", "--json")
    assert applied.exit_code == 0, applied.stderr
    assert counts(database_url) == (before[0] + 2, before[1] + 1)
    shown = cli("subscribers", "likes", "ada@example.org", "--json").json()
    assert {p["arxiv_id"] for p in shown} == {"2604.21935", "2601.00001"} and {p["origin"] for p in shown} == {"library"}
    # The library-only paper is not a listed paper: it is never offered as new.
    listed = cli("papers", "list", "--json").json()
    assert "2601.00001" not in {p["arxiv_id"] for p in listed} and len(listed) == 3


def test_a_library_with_a_bad_entry_is_refused_by_line_and_writes_nothing(stocked, data_dir, database_url):
    before = counts(database_url)
    ran = stocked("subscribers", "import-library", "ada@example.org", str(data_dir / "library" / "zotero.bib"), "--apply")
    assert ran.exit_code == 1
    assert "line 18" in ran.stderr and "nothing was written" in ran.stderr
    assert counts(database_url) == before


def test_an_unparsable_file_is_one_line(stocked, tmp_path):
    junk = tmp_path / "junk.bib"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "not UTF-8" in one_error_line(stocked("subscribers", "import-library", "ada@example.org", str(junk)))


def test_reindex_computes_missing_features_once(stocked, database_url):
    from digest.store.tables import paper_features

    first = stocked("papers", "reindex", "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json()["indexed"] == 3
    engine = open_engine(database_url)
    with engine.connect() as conn:
        models = set(conn.execute(select(paper_features.c.model)).scalars())
        stored = conn.execute(select(func.count()).select_from(paper_features)).scalar_one()
    engine.dispose()
    assert stored == 3 and models == {first.json()["model"]}
    assert stocked("papers", "reindex", "--json").json()["indexed"] == 0  # safe to re-run


def test_a_paper_only_another_subscribers_library_holds_is_not_found_and_their_own_is(stocked, database_url,
                                                                                       tmp_path):
    cli = stocked
    assert cli("subscribers", "add", "bob@example.org", "--confirmed").exit_code == 0
    bib = tmp_path / "bob.bib"
    bib.write_text("@article{mine, title={A diary of my own rare disease}, author={Bob Private}, "
                   "doi={10.5555/private.2026.1}, year={2026}}\n")
    assert cli("subscribers", "import-library", "bob@example.org", str(bib), "--apply").exit_code == 0
    before = counts(database_url)
    # Ada (or whoever holds her manage link) cannot find, like or probe for Bob's library paper.
    line = one_error_line(cli("subscribers", "like", "ada@example.org", "10.5555/private.2026.1"))
    assert "'10.5555/private.2026.1'" in line and "nothing changed" in line
    assert counts(database_url) == before
    # Bob can: it is his. And once Ada imports the same paper herself, it is hers too.
    assert cli("subscribers", "unlike", "bob@example.org", "10.5555/private.2026.1", "--json").json()["changed"] == 1
    assert cli("subscribers", "import-library", "ada@example.org", str(bib), "--apply").exit_code == 0
    assert cli("subscribers", "dislike", "ada@example.org", "10.5555/private.2026.1", "--json").json()["changed"] == 1
