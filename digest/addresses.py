"""Host names, domains, mailboxes and URLs in settings: checked and made ASCII, pure.

Internationalised domain names are encoded to their ASCII (punycode) form with the `idna`
package (UTS #46 mapping), so SMTP envelopes, Message-IDs, DKIM and links only ever carry
ASCII; a mailbox header must name exactly one address (no silent "first of two").
Every function raises ValueError with a sentence fit for "invalid setting X: ...".
"""

from __future__ import annotations

import ipaddress
import re
from email.headerregistry import Address, HeaderRegistry
from urllib.parse import urlsplit, urlunsplit

import idna

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Host names and DKIM selectors in the wild carry underscores (Docker service names, "s1_2024"):
# DNS resolves them, though they are not valid in mail domains.
_LOOSE_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_ATOM_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_HEADERS = HeaderRegistry()


def ascii_domain(value: str, *, underscores: bool = False) -> str:
    """`value` as an ASCII domain name (IDN -> punycode, lower case, no trailing dot).
    `underscores`: also accept "_" in labels (host names, selectors; never mail domains)."""
    text = (value or "").strip().rstrip(".")
    if not text:
        raise ValueError("a domain name is needed")
    if underscores and text.isascii():
        encoded = text.lower()
    else:
        try:
            encoded = idna.encode(text, uts46=True).decode("ascii").lower()
        except idna.IDNAError as err:
            raise ValueError(f"{text!r} is not a domain name ({err})") from None
    label = _LOOSE_LABEL if underscores else _LABEL
    if len(encoded) > 253 or not all(label.fullmatch(part) for part in encoded.split(".")):
        raise ValueError(f"{text!r} is not a domain name")
    return encoded


def envelope_address(addr: str) -> str:
    """`addr` with its domain in the ASCII form SMTP carries (IDNA 2008 via `ascii_domain`:
    the codec in Python's standard library is IDNA 2003, which maps "straße.de" to
    "strasse.de", someone else's domain). ASCII addresses come back as they are."""
    if addr.isascii():
        return addr
    local, at, domain = addr.rpartition("@")
    if not at:
        raise ValueError(f"{addr!r} is not an email address")
    return f"{local}@{ascii_domain(domain)}"


def host_name(value: str) -> str:
    """An IP address (as given) or an ASCII host name."""
    text = (value or "").strip()
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return ascii_domain(text, underscores=True)


def one_mailbox(value: str) -> str:
    """A From-style header value holding exactly one address: `Name <local@domain>` (or the
    bare address), the domain in ASCII. Refuses line breaks, groups and lists."""
    text = (value or "").strip()
    if any(ch in text for ch in "\r\n\x00"):
        raise ValueError("must be on one line")
    header = _HEADERS("From", text)
    addresses = header.addresses
    if len(addresses) != 1:
        raise ValueError(f"must hold exactly one address, found {len(addresses)}: use 'Name <address@domain>'")
    address = addresses[0]
    if address.username and not _ATOM_LOCAL.fullmatch(address.username):
        raise ValueError(f"the part before the @ in {address.addr_spec!r} must be plain ASCII letters, digits or .+-_")
    if header.defects or not address.username or not address.domain or address.domain.startswith("["):
        raise ValueError(f"{text!r} is not an address like 'Paper Digest <digest@example.org>'")
    ascii_address = Address(display_name=address.display_name, username=address.username,
                            domain=ascii_domain(address.domain))
    return str(ascii_address)


def web_base_url(value: str) -> str:
    """An http(s) URL with a host and nothing after the path; host in ASCII, no trailing /."""
    text = (value or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host name")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must have no user name, password, query or fragment (it goes into every email)")
    host = host_name(parts.hostname)
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a bad port number") from None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """A comma-separated list of IP addresses or CIDR networks ("" -> none)."""
    found = []
    for item in (part.strip() for part in (value or "").split(",")):
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network such as 10.0.0.0/8") from None
    return tuple(found)
