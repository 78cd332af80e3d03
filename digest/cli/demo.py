"""`digest demo`: the whole pipeline on the sample snapshots shipped in the package."""

from __future__ import annotations

from pathlib import Path

import typer

from digest.cli.common import console, handle_errors, print_json
from digest.jobs import ingest_bytes
from digest.store.db import open_engine
from digest.store.papers import count_papers, list_papers

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# Listing order matters: it is the order the snapshots were published in.
SAMPLE_FILES = (
    "snapshots/hf-listing-compact.txt",
    "snapshots/hf-listing-with-metadata.txt",
    "snapshots/hf-listing-plain.txt",
    "hf-api/daily-papers-limit30.json",
    "feeds/arxiv-rss-new-cross-replace.xml",
    "feeds/arxiv-api-query.atom.xml",
)


@handle_errors
def demo(
    folder: Path = typer.Option(Path("digest-demo"), "--folder", help="Where the demo writes its database and output."),
    as_json: bool = typer.Option(False, "--json", help="Print the ingest reports as JSON."),
) -> None:
    """Run the pipeline on the bundled sample snapshots into a local SQLite file.

    Needs no configuration and touches nothing outside FOLDER. Run it twice: the second
    run recognises every snapshot and changes nothing.

    Example:  digest demo --folder /tmp/digest-demo
    """
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "digest.db"
    engine = open_engine(f"sqlite:///{database}")
    try:
        reports = [ingest_bytes(engine, (SAMPLES / name).read_bytes(), input=name) for name in SAMPLE_FILES]
        with engine.connect() as conn:
            total = count_papers(conn)
            newest = list_papers(conn, limit=5)
    finally:
        engine.dispose()
    if as_json:
        print_json({"database": str(database), "papers": total, "inputs": [r.as_dict() for r in reports]})
        return
    console.print(f"[bold]Paper Digest demo[/] — database {database}")
    for report in reports:
        state = "already ingested" if report.duplicate_snapshot else f"{report.new} new, {report.updated} updated, {report.unchanged} unchanged"
        console.print(f"  {report.input:<42} {report.format:<9} {report.papers:>4} papers: {state}", highlight=False)
    console.print(f"[bold]{total}[/] distinct papers stored. Newest:")
    for paper in newest:
        console.print(f"  • {paper.title}  [dim]{paper.key}[/]", highlight=False)
