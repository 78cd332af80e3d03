"""Subscriber import speed: 100,000 rows of CSV through `digest subscribers import --apply`.

    python tests/benchmarks/bench_subscribers.py [--rows 100000] [--database-url URL]

Runs the real command in a subprocess (so start-up is included) against a fresh database.
Prints rows/s for the dry run (read + validate + compare) and for --apply (all of that plus
the batch insert in one transaction). Target: 100k rows applied in under 20 s.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ZONES = ["Asia/Tokyo", "Europe/Berlin", "America/Los_Angeles", "UTC", "Australia/Sydney", "America/Sao_Paulo"]
QUERIES = ['"token pooling" OR normalization -medical', "pooling, data filtering", "author:ruff", "diffusion",
           "retrieval OR reranking", "title:transformer -vision", "quantization, pruning, distillation"]


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(3)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "interests", "timezone", "send_hour", "frequency", "weekday"])
        for i in range(rows):
            weekly = rng.random() < 0.2
            writer.writerow([f"user{i}@example{i % 97}.org", f"User {i}", rng.choice(QUERIES), rng.choice(ZONES),
                             rng.randrange(24), "weekly" if weekly else "daily", rng.choice(["mon", "fri"]) if weekly else ""])


def run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "digest", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"digest {' '.join(args)} failed: {done.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-subscribers-"))
    path = folder / "people.csv"
    write_csv(path, options.rows)
    env = dict(os.environ, DIGEST_DATABASE_URL=options.database_url or f"sqlite:///{folder / 'bench.db'}")
    run(["db", "upgrade"], env)
    dry = run(["subscribers", "import", str(path), "--json"], env)
    applied = run(["subscribers", "import", str(path), "--apply", "--json"], env)
    figures = {
        "rows": options.rows,
        "dry_run_s": round(dry, 2),
        "apply_s": round(applied, 2),
        "apply_rows_per_s": round(options.rows / applied),
        "target_s": 20,
    }
    print(f"{options.rows:,} subscribers from CSV")
    print(f"dry run (read, validate, compare): {dry:6.2f} s")
    print(f"--apply (all of that + insert):   {applied:6.2f} s  = {figures['apply_rows_per_s']:,} rows/s  (target < 20 s)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
