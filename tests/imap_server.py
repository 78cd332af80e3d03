"""A real IMAP server for tests: Debian's dovecot on 127.0.0.1, throwaway config in a tmp dir.

    with start_dovecot(tmp_path) as server:      # skips the test when dovecot cannot run
        uid = server.append(raw_bytes)
        server.url                               # DIGEST_IMAP_URL for it (plaintext, loopback)
        server.flags(uid)                        # {"\\Seen", "$DigestProcessed", ...}

One user (`digest`, password in a passwd-file), Maildir under the tmp dir, plaintext login
allowed (loopback only). As root, dovecot's login processes run as `dovenull` and the mail
process as the `dovecot` user inside a chroot (`mail_chroot`), because dovecot refuses
uid 0 for mail and pytest's tmp dirs are closed to other users; as any other user it
runs rootless, every process as that user.
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "digest"
PASSWORD = "imap-test-password"
FOLDER = "INBOX"


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if os.access(p, os.X_OK)), None)


@dataclass
class DovecotServer:
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"imap://{USER}:{PASSWORD}@{self.host}:{self.port}/{FOLDER}?security=none"

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(USER, PASSWORD)
            imap.select(FOLDER)
            yield imap
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    def append(self, raw: bytes) -> int:
        """Deliver `raw` (line ends made CRLF) to the folder; returns its UID."""
        data = re.sub(rb"\r?\n", b"\r\n", raw)
        with self.client() as imap:
            status, response = imap.append(FOLDER, None, None, data)
        assert status == "OK", response
        match = re.search(rb"APPENDUID \d+ (\d+)", response[0])
        assert match, response
        return int(match.group(1))

    def flags(self, uid: int) -> set[str]:
        with self.client() as imap:
            _, data = imap.uid("FETCH", str(uid), "(FLAGS)")
        match = re.search(rb"FLAGS \(([^)]*)\)", data[0] or b"")
        return set(match.group(1).decode().split()) if match else set()

    def set_flags(self, uid: int, change: str, flags: str) -> None:
        with self.client() as imap:
            status, data = imap.uid("STORE", str(uid), change, flags)
        assert status == "OK", data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(base: Path, port: int) -> str:
    """dovecot.conf for a throwaway server in `base` (see the module doc for the users)."""
    if os.geteuid() == 0:
        mail_user = pwd.getpwnam("dovecot") if _has_user("dovecot") else pwd.getpwnam("nobody")
        mailroot = base / "mailroot"
        (mailroot / USER).mkdir(parents=True)
        for path in (mailroot, mailroot / USER):
            os.chown(path, mail_user.pw_uid, mail_user.pw_gid)
        login_user = "dovenull" if _has_user("dovenull") else "nobody"
        users = f"default_internal_user = root\ndefault_internal_group = root\ndefault_login_user = {login_user}\n"
        mail = f"mail_chroot = {mailroot}\nmail_location = maildir:~/Maildir\n"
        userdb = f"uid={mail_user.pw_uid} gid={mail_user.pw_gid} home=/%u"
        chroot = ""
    else:
        me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        users = f"default_internal_user = {me}\ndefault_internal_group = {group}\ndefault_login_user = {me}\n"
        mail = f"mail_location = maildir:{base}/mail/%u\n"
        userdb = f"uid={os.getuid()} gid={os.getgid()} home={base}/home/%u"
        chroot = "  chroot =\n"
    return f"""
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
{users}{mail}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/passwd
}}
userdb {{
  driver = static
  args = {userdb}
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
{chroot}}}
"""


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _wait_for_login(port: int, process: subprocess.Popen, deadline: float) -> bool:
    while time.monotonic() < deadline and process.poll() is None:
        try:
            imap = imaplib.IMAP4("127.0.0.1", port, timeout=2)
            imap.login(USER, PASSWORD)
            imap.logout()
            return True
        except (OSError, imaplib.IMAP4.error):
            time.sleep(0.1)
    return False


@contextlib.contextmanager
def start_dovecot(tmp_path: Path) -> Iterator[DovecotServer]:
    """A running dovecot for one test; skips, saying why, when it cannot run here."""
    binary = dovecot_binary()
    if binary is None:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd; .ci/run installs it)")
    base = tmp_path / "dovecot"
    base.mkdir()
    (base / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port = _free_port()
    (base / "dovecot.conf").write_text(_config(base, port))
    process = subprocess.Popen([binary, "-F", "-c", str(base / "dovecot.conf")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if not _wait_for_login(port, process, time.monotonic() + 15):
            log = (base / "dovecot.log").read_text(errors="replace") if (base / "dovecot.log").exists() else ""
            output = process.stdout.read().decode(errors="replace") if process.poll() is not None else ""
            pytest.skip(f"dovecot did not start on 127.0.0.1:{port}: {(output + log).strip()[-600:]}")
        yield DovecotServer("127.0.0.1", port, base / "dovecot.log")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


@pytest.fixture
def dovecot(tmp_path) -> Iterator[DovecotServer]:
    with start_dovecot(tmp_path) as server:
        yield server
