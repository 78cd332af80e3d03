"""A tiny real DNS server for tests: UDP on 127.0.0.1, answering TXT (and the root's NS)
from a dict, built with dnspython's own wire format (so the resolver under test parses
exactly what a real server would send).

    with dns_server({"example.org": ["v=spf1 -all"]}) as resolver:
        ...  # a dns.resolver.Resolver pointed at it

Names not in the dict get NXDOMAIN; `root=False` makes the root zone fail too (a network
whose resolver answers nothing real, like a sandbox).
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset


def _answer(query: dns.message.Message, records: Mapping[str, Sequence[str]], root: bool) -> dns.message.Message:
    response = dns.message.make_response(query)
    question = query.question[0]
    name = question.name.to_text().rstrip(".").lower()
    if question.rdtype == dns.rdatatype.NS and name == "" and root:
        response.answer.append(dns.rrset.from_text(".", 3600, "IN", "NS", "a.root-servers.net."))
    elif question.rdtype == dns.rdatatype.TXT and records.get(name):
        texts = [" ".join(f'"{piece}"' for piece in _pieces(text)) for text in records[name]]
        response.answer.append(dns.rrset.from_text(question.name, 300, "IN", "TXT", *texts))
    elif name in records or (name == "" and root):
        pass  # the name exists, with no record of that type
    else:
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response


def _pieces(text: str) -> list[str]:
    """TXT strings are at most 255 bytes: long records (DKIM keys) come in pieces."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return [escaped[i:i + 200] for i in range(0, len(escaped), 200)] or [""]


@contextmanager
def dns_server(records: Mapping[str, Sequence[str]], *, root: bool = True) -> Iterator[dns.resolver.Resolver]:
    lowered = {name.lower().rstrip("."): list(texts) for name, texts in records.items()}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except socket.timeout:
                continue
            query = dns.message.from_wire(data)
            sock.sendto(_answer(query, lowered, root).to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = sock.getsockname()[1]
    resolver.lifetime = 3.0
    try:
        yield resolver
    finally:
        stop.set()
        thread.join(2)
        sock.close()
