"""`digest doctor` against real parts: an aiosmtpd relay (plain, STARTTLS, AUTH), a real DNS
server (tests/dns_server.py) holding SPF / DKIM / DMARC records, and real databases."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess

import pytest
from aiosmtpd.smtp import AuthResult

from digest.config import Settings
from digest.jobs.doctor import Level, check_database, run_checks
from digest.jobs.doctor_mail import check_dns, check_smtp
from digest.store.db import open_engine
from tests.dns_server import dns_server
from tests.smtp_server import SinkHandler, start_server

KEY = "doctor-test-key-0123456789abcdefghijklmnop"
DOMAIN = "digest-fixture.net"


def settings(**changes) -> Settings:
    values = dict(secret_key=KEY, base_url="https://papers.digest-fixture.net", from_=f"Paper Digest <digest@{DOMAIN}>",
                  database_url="sqlite:///unused.db", smtp_host="127.0.0.1", smtp_port=1)
    return Settings(**(values | changes))


def found(findings, check: str) -> list:
    return [(f.level, f.message, f.fix) for f in findings if f.check == check]


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory):
    """(private key file, base64 public key) of a fresh RSA key, as `openssl` makes them."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl CLI is needed to make a DKIM key and a test certificate")
    folder = tmp_path_factory.mktemp("dkim")
    private = folder / "dkim.pem"
    subprocess.run([openssl, "genrsa", "-out", str(private), "2048"], check=True, capture_output=True)
    der = subprocess.run([openssl, "rsa", "-in", str(private), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return private, base64.b64encode(der).decode()


def good_records(public_key: str) -> dict[str, list[str]]:
    return {DOMAIN: ["v=spf1 ip4:192.0.2.10 -all", "google-site-verification=abc"],
            f"_dmarc.{DOMAIN}": ["v=DMARC1; p=quarantine; rua=mailto:dmarc@digest-fixture.net"],
            f"mail._domainkey.{DOMAIN}": [f"v=DKIM1; k=rsa; p={public_key}"]}


# ---- the whole deployment --------------------------------------------------------------------


def test_a_ready_deployment_passes_every_check(database_url, dkim_key):
    private, public = dkim_key
    open_engine(database_url).dispose()
    ready = settings(database_url=database_url, dkim_selector="mail", dkim_private_key_file=private,
                     trusted_proxies="127.0.0.1", metrics_token="metrics-token-0123456789abcdefghijklm")
    with start_server(SinkHandler()) as relay, dns_server(good_records(public)) as resolver:
        findings = run_checks(settings(**(ready.model_dump() | {"smtp_port": relay.port})), resolver=resolver)
    problems = [f for f in findings if f.level != Level.OK]
    assert problems == [], problems
    checks = {f.check for f in findings}
    assert {"secret key", "base URL", "metrics", "proxies", "From address", "database", "SMTP", "SMTP TLS",
            "SPF", "DMARC", "DKIM"} <= checks


# ---- settings and database ------------------------------------------------------------------------


def test_settings_problems_say_what_to_fix(tmp_path):
    findings = run_checks(settings(secret_key=None, base_url="http://digest-fixture.net",
                                   from_="Digest <digest@example.org>",
                                   database_url=f"sqlite:///{tmp_path / 'typo' / 'x.db'}"), offline=True)
    [(level, message, fix)] = found(findings, "secret key")
    assert level == Level.ERROR and "token_urlsafe(48)" in fix
    [(level, message, fix)] = found(findings, "base URL")
    assert level == Level.ERROR and "https" in fix
    [(level, message, fix)] = found(findings, "From address")
    assert level == Level.ERROR and "example.org" in message
    [(level, message, fix)] = found(findings, "database")
    assert level == Level.ERROR and "does not exist" in message and "digest db upgrade" in fix
    assert found(findings, "SMTP and DNS")[0][0] == Level.SKIPPED


def test_a_database_behind_the_code_or_not_writable_is_an_error(database_url, tmp_path):
    from sqlalchemy import text

    from digest.store.db import make_engine

    behind = check_database(settings(database_url=database_url))  # a fresh, empty database
    assert behind[0].level == Level.ERROR and "digest db upgrade" in behind[0].fix
    open_engine(database_url).dispose()
    assert [f.level for f in check_database(settings(database_url=database_url))] == [Level.OK]
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        engine = make_engine(database_url)
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        engine.dispose()
        read_only = check_database(settings(database_url=f"sqlite:///file:{path}?mode=ro&uri=true"))
        assert read_only[0].level == Level.ERROR and "may write" in read_only[0].fix


# ---- SMTP --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory, dkim_key) -> ssl.SSLContext:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([shutil.which("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


def _login(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=auth_data.login == b"digest" and auth_data.password == b"right", handled=False)


def test_an_unreachable_relay_is_an_error():
    [finding] = check_smtp(settings(smtp_port=1), timeout=3)
    assert finding.level == Level.ERROR and "cannot talk to 127.0.0.1:1" in finding.message


def test_starttls_must_be_offered_and_its_certificate_valid(server_tls):
    with start_server(SinkHandler()) as plain:
        findings = check_smtp(settings(smtp_port=plain.port, smtp_security="starttls"))
    assert found(findings, "SMTP TLS")[0][:2] == (Level.ERROR, f"127.0.0.1:{plain.port} does not offer STARTTLS")
    with start_server(SinkHandler(), tls_context=server_tls) as tls:
        findings = check_smtp(settings(smtp_port=tls.port, smtp_security="starttls"))
    [(level, message, fix)] = found(findings, "SMTP TLS")
    assert level == Level.ERROR and "certificate" in message.lower() and "DIGEST_SMTP_HOST" in fix


def test_a_refused_login_is_an_error_and_a_good_one_passes():
    kwargs = dict(authenticator=_login, auth_require_tls=False)
    with start_server(SinkHandler(), **kwargs) as relay:
        bad = check_smtp(settings(smtp_port=relay.port, smtp_username="digest", smtp_password="wrong"))
        good = check_smtp(settings(smtp_port=relay.port, smtp_username="digest", smtp_password="right"))
    assert found(bad, "SMTP login")[0][0] == Level.ERROR and "535" in found(bad, "SMTP login")[0][1]
    assert found(good, "SMTP login") == [(Level.OK, "logged in as digest", "")]


# ---- DNS --------------------------------------------------------------------------------------------


def dns_findings(records, dkim_key=None, *, root=True, **changes):
    extra = {}
    if dkim_key is not None:
        extra = {"dkim_selector": "mail", "dkim_private_key_file": dkim_key[0]}
    with dns_server(records, root=root) as resolver:
        return check_dns(settings(**(extra | changes)), resolver=resolver)


def test_good_records_pass(dkim_key):
    findings = dns_findings(good_records(dkim_key[1]), dkim_key)
    assert [(f.check, f.level) for f in findings] == [("SPF", Level.OK), ("DMARC", Level.OK), ("DKIM", Level.OK)]


@pytest.mark.parametrize("change,check,level,words", [
    ({DOMAIN: ["google-site-verification=abc"]}, "SPF", Level.ERROR, "no SPF record"),
    ({DOMAIN: ["v=spf1 -all", "v=spf1 include:relay.example -all"]}, "SPF", Level.ERROR, "2 SPF records"),
    ({DOMAIN: ["v=spf1 +all"]}, "SPF", Level.WARNING, "any server"),
    ({f"_dmarc.{DOMAIN}": []}, "DMARC", Level.ERROR, "no DMARC record"),
    ({f"_dmarc.{DOMAIN}": ["v=DMARC1; rua=mailto:x@digest-fixture.net"]}, "DMARC", Level.ERROR, "no valid p="),
    ({f"mail._domainkey.{DOMAIN}": []}, "DKIM", Level.ERROR, "no DKIM key"),
    ({f"mail._domainkey.{DOMAIN}": ["v=DKIM1; p="]}, "DKIM", Level.ERROR, "revoked"),
])
def test_each_missing_or_bad_record_is_named(dkim_key, change, check, level, words):
    records = good_records(dkim_key[1]) | change
    [(got, message, fix)] = found(dns_findings(records, dkim_key), check)
    assert got == level and words in message and fix


def test_a_dkim_record_of_another_key_is_an_error(dkim_key, tmp_path):
    other = tmp_path / "other.pem"
    subprocess.run([shutil.which("openssl"), "genrsa", "-out", str(other), "2048"], check=True, capture_output=True)
    [(level, message, _)] = found(dns_findings(good_records(dkim_key[1]), (other, None)), "DKIM")
    assert level == Level.ERROR and "does not match" in message


def test_no_dkim_here_is_a_warning_to_check_the_relay(dkim_key):
    [(level, message, fix)] = found(dns_findings(good_records(dkim_key[1])), "DKIM")
    assert level == Level.WARNING and f"d={DOMAIN}" in fix


def test_without_reachable_dns_the_records_are_skipped_not_failed(dkim_key):
    findings = dns_findings(good_records(dkim_key[1]), dkim_key, root=False)
    assert [(f.check, f.level) for f in findings] == [("DNS", Level.SKIPPED)]


# ---- the command ----------------------------------------------------------------------------------


def test_the_command_exits_1_on_errors_and_prints_json(cli, monkeypatch, database_url):
    monkeypatch.setenv("DIGEST_SECRET_KEY", "short")
    bad = cli("doctor", "--offline", "--json")
    assert bad.exit_code == 1
    assert bad.json()["ok"] is False and bad.json()["findings"][0]["check"] == "settings"
    assert "token_urlsafe(48)" in bad.json()["findings"][0]["message"]
    monkeypatch.setenv("DIGEST_SECRET_KEY", KEY)
    monkeypatch.setenv("DIGEST_BASE_URL", "https://papers.digest-fixture.net")
    monkeypatch.setenv("DIGEST_FROM", f"Digest <digest@{DOMAIN}>")
    assert cli("db", "upgrade").exit_code == 0
    good = cli("doctor", "--offline")
    assert good.exit_code == 0, good.stdout
    assert "ready" in good.stdout and "fix:" in good.stdout  # the proxy warning says what to do
