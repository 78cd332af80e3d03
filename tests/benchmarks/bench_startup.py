"""CLI start-up: how long `digest --help` and `digest papers list` take, and what they import.

    python tests/benchmarks/bench_startup.py [--runs 15] [--digest PATH]

Runs each command `--runs` times in a fresh process (hyperfine-style: one warm-up run,
then min / median / max wall time), against a throwaway SQLite database that the warm-up
creates and migrates, with bytecode compiled as an install has it. Then `python -X
importtime` of each shows the packages whose imports cost most. Target (issue 13): <= 0.3 s
for both on an idle machine; the load average is printed beside the figures, which
inflate with it. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {"--help": ["--help"], "papers list": ["papers", "list", "--limit", "5"]}


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def top_imports(args: list[str], env: dict[str, str], count: int = 10) -> list[tuple[str, float]]:
    """The `count` packages whose modules took longest to import (ms, own time summed per
    top-level package) when running `digest ARGS`."""
    code = "import sys; from digest.cli.app import main; sys.argv = ['digest', *sys.argv[1:]]; main()"
    ran = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], env=env, capture_output=True,
                         text=True)
    totals: dict[str, float] = {}
    for own, name in re.findall(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", ran.stderr):
        package = name.split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(own) / 1000
    return sorted(totals.items(), key=lambda row: -row[1])[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--digest", default=shutil.which("digest") or "digest", help="the digest executable")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    env = {**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{folder / 'digest.db'}"}
    # An installed package has its bytecode compiled; let the warm-up write it here too.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    results = {}
    for label, argv in COMMANDS.items():
        timed([args.digest, *argv], env)  # warm-up: creates the database, fills the OS caches
        times = sorted(timed([args.digest, *argv], env) for _ in range(args.runs))
        results[label] = {"min_s": round(times[0], 3), "median_s": round(statistics.median(times), 3),
                          "max_s": round(times[-1], 3)}
        print(f"digest {label:<12} min {times[0]:.3f} s  median {statistics.median(times):.3f} s  "
              f"max {times[-1]:.3f} s  ({args.runs} runs)")
        for name, ms in top_imports(argv, env):
            print(f"    {ms:8.1f} ms  {name}")
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} cores (figures inflate with load)")
    shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"benchmark": "startup", "runs": args.runs, "load_average": round(load, 2), **{
        label.replace(" ", "_").strip("-"): figures for label, figures in results.items()}}))


if __name__ == "__main__":
    main()
