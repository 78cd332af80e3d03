"""deploy/: the compose file validates and the systemd units verify, where the tools exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _docker_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _docker_compose(), reason="the docker CLI with its compose plugin is not installed here")
def test_compose_file_validates():
    done = subprocess.run(["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    services = subprocess.run(["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--services"],
                              capture_output=True, text=True).stdout.split()
    assert sorted(services) == ["app", "db", "keygen", "mailpit", "worker"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_units_verify(tmp_path):
    # The units name the production path of the executable; verify needs one that exists.
    digest = str(Path(sys.executable).parent / "digest")
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/paper-digest/venv/bin/digest", digest)
        name = unit.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", *map(str, sorted(tmp_path.iterdir()))],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_example_env_documents_every_setting():
    from digest.config import Settings

    documented = {line.split("=", 1)[0].lstrip("# ").strip() for line in (DEPLOY / "digest.env.example").read_text().splitlines()
                  if "=" in line and line.lstrip("# ").startswith("DIGEST_")}
    fields = {"DIGEST_FROM" if name == "from_" else f"DIGEST_{name.upper()}" for name in Settings.model_fields}
    # The *_FILE variants are documented next to their secret.
    missing = {name for name in fields if name not in documented and not name.endswith("_FILE")}
    assert missing == set()


def test_deploy_ships_no_usable_signing_key():
    """The compose file once pointed at deploy/secret_key.example, so every trial ran with a
    key anyone could read (issue 15). Nothing in deploy/ may be a key the settings accept."""
    from digest.config import secret_problem

    assert not (DEPLOY / "secret_key.example").exists()
    assigned = re.compile(r"DIGEST_\w*(?:SECRET_KEY|TOKEN|PASSWORD)\w*\s*[=:]\s*['\"]?([^\s'\"#]*)")
    for path in (p for p in DEPLOY.rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        for value in assigned.findall(text):
            assert not value or value.startswith("/") or secret_problem(value) is not None, (path, value)
        if "key" in path.name or "secret" in path.name:
            assert secret_problem(text.strip()) is not None, path
    compose = (DEPLOY / "compose.yaml").read_text()
    assert "secrets.token_urlsafe(48)" in compose and "DIGEST_SECRET_KEY_FILE: /keys/secret_key" in compose
