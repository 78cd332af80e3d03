"""`digest doctor`'s network checks: the SMTP relay and the From domain's DNS records.

SMTP (aiosmtplib): the relay answers; its TLS is what DIGEST_SMTP_SECURITY says, with a
certificate that verifies; plain text is flagged when it crosses the network; the login
works. DNS (dnspython): one SPF record at the From domain, a DMARC record at `_dmarc.`,
and, when this service signs, a DKIM key at `<selector>._domainkey.` matching the private
key file. When no name server answers, the DNS checks are skipped, not failed.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl

import aiosmtplib
import dkim.crypto
import dns.exception
import dns.resolver

from digest.config import Settings
from digest.jobs.doctor import Finding, Level, error, from_domain, ok, warning

SMTP_TIMEOUT = 10.0
DNS_TIMEOUT = 5.0
_LOCAL = ("localhost", "127.0.0.1", "::1")
_RESERVED = (".localhost", ".example", ".test", ".invalid", ".local")


class DnsUnreachable(Exception):
    """No name server answered: DNS checks are skipped."""


def check_smtp(settings: Settings, *, timeout: float = SMTP_TIMEOUT) -> list[Finding]:
    return asyncio.run(_smtp(settings, timeout))


async def _smtp(settings: Settings, timeout: float) -> list[Finding]:
    host, port, security = settings.smtp_host, settings.smtp_port, settings.smtp_security
    where = f"{host}:{port}"
    client = aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, use_tls=security == "tls", start_tls=False,
                             validate_certs=True)
    try:
        await client.connect()
        await client.ehlo()
    except (aiosmtplib.SMTPException, OSError) as err:
        return [_tls_error(where, err) if _is_cert_error(err) else
                error("SMTP", f"cannot talk to {where}: {_reason(err)}",
                      "check DIGEST_SMTP_HOST, DIGEST_SMTP_PORT, DIGEST_SMTP_SECURITY and the firewall")]
    try:
        found = [ok("SMTP", f"{where} answers ({client.server_auth_methods and 'AUTH offered' or 'no AUTH offered'})")]
        found += await _tls(client, settings, where)
        if Level.ERROR not in {f.level for f in found}:
            found += await _login(client, settings, where)
        return found
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


async def _tls(client: aiosmtplib.SMTP, settings: Settings, where: str) -> list[Finding]:
    security = settings.smtp_security
    if security == "tls":
        return [ok("SMTP TLS", f"implicit TLS to {where}, certificate verified")]
    offered = client.supports_extension("starttls")
    if security == "starttls":
        if not offered:
            return [error("SMTP TLS", f"{where} does not offer STARTTLS",
                          "use the relay's submission port (587) or DIGEST_SMTP_SECURITY=tls on port 465")]
        try:
            await client.starttls()
        except (aiosmtplib.SMTPException, OSError) as err:
            return [_tls_error(where, err)]
        return [ok("SMTP TLS", f"STARTTLS to {where}, certificate verified")]
    if settings.smtp_host in _LOCAL:
        return [ok("SMTP TLS", f"plain SMTP to a relay on this machine ({where})")]
    level = error if settings.smtp_password is not None else warning
    return [level("SMTP TLS", f"mail{' and the SMTP password' if settings.smtp_password else ''} cross the network "
                  f"to {where} unencrypted", "set DIGEST_SMTP_SECURITY=starttls" +
                  (" (this relay offers it)" if offered else " and use a relay that offers it"))]


async def _login(client: aiosmtplib.SMTP, settings: Settings, where: str) -> list[Finding]:
    if not settings.smtp_username:
        return []
    password = settings.smtp_password.get_secret_value() if settings.smtp_password is not None else ""
    try:
        await client.login(settings.smtp_username, password)
    except (aiosmtplib.SMTPException, OSError) as err:
        return [error("SMTP login", f"{where} refused {settings.smtp_username!r}: {_reason(err)}",
                      "check DIGEST_SMTP_USERNAME and DIGEST_SMTP_PASSWORD(_FILE)")]
    return [ok("SMTP login", f"logged in as {settings.smtp_username}")]


def _is_cert_error(err: BaseException) -> bool:
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _tls_error(where: str, err: BaseException) -> Finding:
    return error("SMTP TLS", f"TLS with {where} failed: {_reason(err)}",
                 "use the relay's name as its certificate states in DIGEST_SMTP_HOST, or fix its certificate")


def _reason(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


# ---- DNS --------------------------------------------------------------------------------------


def check_dns(settings: Settings, *, resolver: dns.resolver.Resolver | None = None) -> list[Finding]:
    domain = from_domain(settings)
    if domain == "localhost" or domain.endswith(_RESERVED) or "." not in domain:
        return [Finding(check="DNS", level=Level.SKIPPED, message=f"{domain} is not a public domain")]
    resolver = resolver or dns.resolver.Resolver()
    resolver.lifetime = DNS_TIMEOUT
    try:
        _root_answers(resolver)
        return [*_spf(resolver, domain), *_dmarc(resolver, domain), *_dkim(resolver, settings, domain)]
    except DnsUnreachable as err:
        return [Finding(check="DNS", level=Level.SKIPPED, message=f"DNS is not reachable from here ({err}): SPF, "
                        "DKIM and DMARC not checked")]


def _root_answers(resolver: dns.resolver.Resolver) -> None:
    """Raise DnsUnreachable unless the root zone's name servers resolve: a network without
    real DNS (a sandbox answering NXDOMAIN to everything) must skip, not report missing records."""
    try:
        resolver.resolve(".", "NS")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers, dns.exception.Timeout) as err:
        raise DnsUnreachable(type(err).__name__) from None


def txt_records(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at `name` (each record's pieces joined); [] when there are none."""
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as err:
        raise DnsUnreachable(type(err).__name__) from None
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def _spf(resolver: dns.resolver.Resolver, domain: str) -> list[Finding]:
    records = [r for r in txt_records(resolver, domain) if r.lower().startswith("v=spf1")]
    if not records:
        return [error("SPF", f"no SPF record at {domain}: receivers (Gmail, Yahoo, Outlook) reject or junk its mail",
                      f"publish a TXT record at {domain}: \"v=spf1 include:<your relay's SPF> -all\"")]
    if len(records) > 1:
        return [error("SPF", f"{len(records)} SPF records at {domain}: receivers treat that as a permanent error",
                      "merge them into one TXT record")]
    if re.search(r"(^|\s)\+?all\b", records[0][6:].strip()):
        return [warning("SPF", f"{domain}: \"{records[0]}\" lets any server send as {domain}",
                        "end the record with -all or ~all")]
    return [ok("SPF", f"{domain}: {records[0]}")]


def _dmarc(resolver: dns.resolver.Resolver, domain: str) -> list[Finding]:
    name = f"_dmarc.{domain}"
    records = [r for r in txt_records(resolver, name) if r.lower().replace(" ", "").startswith("v=dmarc1")]
    if len(records) != 1:
        found = "no DMARC record" if not records else f"{len(records)} DMARC records"
        return [error("DMARC", f"{found} at {name}: bulk senders need exactly one (Gmail and Yahoo rules)",
                      f"publish one TXT record at {name}: \"v=DMARC1; p=none; rua=mailto:dmarc@{domain}\"")]
    policy = dict(_tags(records[0])).get("p", "")
    if policy not in ("none", "quarantine", "reject"):
        return [error("DMARC", f"{name}: \"{records[0]}\" has no valid p= policy", "add p=none (or quarantine, reject)")]
    return [ok("DMARC", f"{name}: policy {policy}")]


def _dkim(resolver: dns.resolver.Resolver, settings: Settings, from_dom: str) -> list[Finding]:
    selector = settings.dkim_selector
    if not selector or not settings.dkim_private_key_file:
        return [warning("DKIM", "this service does not sign its mail (no DKIM settings)",
                        f"set DIGEST_DKIM_SELECTOR, DIGEST_DKIM_PRIVATE_KEY_FILE (and DIGEST_DKIM_DOMAIN), or check "
                        f"that your relay signs for {from_dom}: a received digest must carry a DKIM-Signature d={from_dom}")]
    domain = settings.dkim_domain or from_dom
    found = []
    if from_dom != domain and not from_dom.endswith(f".{domain}"):
        found.append(warning("DKIM", f"signing as {domain} while mail is From {from_dom}: DMARC will not count it",
                             f"set DIGEST_DKIM_DOMAIN to {from_dom} (or a parent of it)"))
    name = f"{selector}._domainkey.{domain}"
    keys = [dict(_tags(r)).get("p") for r in txt_records(resolver, name)]
    keys = [key for key in keys if key is not None]
    if not keys or not keys[0]:
        return found + [error("DKIM", f"no DKIM key at {name}" if not keys else f"the key at {name} is revoked (p=)",
                              f"publish the public key of {settings.dkim_private_key_file} as a TXT record at {name}")]
    return found + [_key_matches(settings, name, keys[0])]


def _key_matches(settings: Settings, name: str, published: str) -> Finding:
    try:
        private = dkim.crypto.parse_pem_private_key(settings.dkim_private_key_file.read_bytes())
        public = dkim.crypto.parse_public_key(base64.b64decode("".join(published.split())))
    except OSError as err:
        return error("DKIM", f"cannot read {settings.dkim_private_key_file}: {err.strerror}",
                     "let the service's user read the DKIM key file")
    except (dkim.crypto.UnparsableKeyError, ValueError) as err:
        return error("DKIM", f"a DKIM key cannot be read: {err}", f"check the key file and the record at {name}")
    if private["modulus"] != public["modulus"]:
        return error("DKIM", f"the key at {name} does not match {settings.dkim_private_key_file}",
                     "publish the public half of this private key, or point at the right key file")
    return ok("DKIM", f"{name} publishes the key this service signs with")


def _tags(record: str) -> list[tuple[str, str]]:
    """`k=v; k2=v2` tag lists (DKIM, DMARC), keys lower-cased."""
    pairs = []
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            pairs.append((key.strip().lower(), value.strip()))
    return pairs
