"""Real digests and a real confirmation email, sent over real SMTP, scored by SpamAssassin.

Debian's `spamassassin` with local rules only (`-L`: no DNS blocklists, no network), the
same check a receiving server's content filter makes. The target is a score of 0 or less:
every rule that adds points is a property of our mail a filter holds against it (the one
that did before: HTML_FONT_LOW_CONTRAST, from a preheader coloured like its background).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow

SPAMASSASSIN = shutil.which("spamassassin")
_STATUS = re.compile(r"^X-Spam-Status: \w+, score=(-?\d+(?:\.\d+)?) required=\S+\s+tests=(.*?)\s+autolearn", re.MULTILINE | re.DOTALL)


def score(message: bytes, home) -> tuple[float, str]:
    """(score, rules that fired) from `spamassassin -L -t`; HOME is a tmp dir so no user config is read or written."""
    result = subprocess.run([SPAMASSASSIN, "-L", "-t"], check=False, input=message, capture_output=True, timeout=120,
                            env={"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"})
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-500:]
    head = result.stdout.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    match = _STATUS.search(head)
    assert match, head[-800:]
    return float(match.group(1)), "".join(match.group(2).split())


@pytest.mark.skipif(SPAMASSASSIN is None, reason="spamassassin is not installed (apt-get install spamassassin; "
                                                  ".ci/run installs it)")
def test_digests_and_the_confirmation_email_score_zero_or_less(cli, samples, mail_env, tmp_path):
    for name in ("hf-listing-compact.txt", "hf-listing-with-metadata.txt", "hf-listing-plain.txt"):
        assert cli("ingest", str(samples / "snapshots" / name)).exit_code == 0
    assert cli("subscribers", "add", "ada@example.org", "--name", "Ada Lovelace", "--keywords",
               '"token pooling" OR normalization OR model', "--confirmed", "--max-papers", "20").exit_code == 0
    assert cli("subscribers", "add", "bob@example.org", "--keywords", "quantum chromodynamics", "--confirmed",
               "--send-empty").exit_code == 0
    assert cli("subscribers", "add", "cyd@example.org", "--keywords", "diffusion").exit_code == 0  # pending
    ran = cli("run", "--now", "--json")
    assert ran.exit_code == 0 and ran.json()["sent"] == 3, ran.stderr
    messages = {m.rcpt_tos[0]: m.data for m in mail_env.handler.messages}
    kinds = {"ada@example.org": "digest with papers", "bob@example.org": "empty digest",
             "cyd@example.org": "confirmation"}
    scores = {kinds[address]: score(data, tmp_path) for address, data in messages.items()}
    print({kind: value for kind, value in scores.items()})
    assert all(points <= 0 for points, _ in scores.values()), scores
