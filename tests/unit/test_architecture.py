"""The import-linter contracts in .importlinter hold, and a wrong import breaks them.

Each failure message carries lint-imports' report, which names the broken contract and
the import chain that broke it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e '.[test]')")


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """Run the contracts against the `digest` package found in `package_parent`."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(CONFIG), "--no-cache"], cwd=package_parent, env=env,
                          capture_output=True, text=True, timeout=120)


def copy_package(tmp_path: Path) -> Path:
    """The package's Python files in tmp_path/digest, free to break."""
    shutil.copytree(ROOT / "digest", tmp_path / "digest", ignore=shutil.ignore_patterns("samples", "__pycache__"))
    return tmp_path / "digest"


def test_the_layers_hold():
    ran = lint_imports(ROOT)
    assert ran.returncode == 0, f"an import breaks the layers of .importlinter:\n{ran.stdout}{ran.stderr}"
    assert "0 broken" in ran.stdout


@pytest.mark.parametrize("module, bad_import, contracts", [
    ("sources/_probe.py", "from digest.store import papers", ["Layers:", "Pure core imports no adapter"]),
    ("diff.py", "import httpx", ["Pure core imports no adapter"]),
    ("store/_probe.py", "from digest.jobs import ingest", ["Layers:"]),
    ("web/_probe.py", "from digest.store import outbox", ["Entry points use jobs, not the store"]),
])
def test_a_wrong_import_breaks_the_contract_it_names(tmp_path, module, bad_import, contracts):
    package = copy_package(tmp_path)
    target = package / module
    target.write_text((target.read_text() if target.exists() else "") + f"\n{bad_import}\n")
    ran = lint_imports(tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    broken = [line for line in ran.stdout.splitlines() if " BROKEN" in line]
    for contract in contracts:
        assert any(line.startswith(contract) for line in broken), f"{contract!r} not reported broken:\n{ran.stdout}"
    assert "digest." + module.removesuffix(".py").replace("/", ".") in ran.stdout  # the import is named
